//! Linux: one thread is plenty for a tray at rest (fewer threads, fewer wakeups); the tray is a
//! StatusNotifierItem task on it.

use crate::app::App;

/// The runtime the app runs on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Shows the tray until Quit.
pub fn run_tray(app: &App, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    runtime.block_on(async {
        tokio::spawn(crate::tray::run(app.clone()));
        crate::until_quit(app).await;
    });
    Ok(())
}
