//! macOS and Windows: the native tray owns the main thread (its event loop), so the app's tasks
//! run on workers of their own.

use crate::app::App;

/// The runtime the app runs on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Shows the tray until Quit (on this, the main, thread).
pub fn run_tray(app: &App, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    crate::tray::run(app.clone(), runtime)
}
