//! The main window. Closing it destroys it (and its webview, which is most of the app's memory); the
//! tray stays and "Open kubewire" builds it again.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

/// The window's label.
pub const MAIN: &str = "main";

/// Shows the window, creating it when it is not there.
pub fn open(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("kubewire")
        .inner_size(1040.0, 720.0)
        .min_inner_size(560.0, 420.0)
        .build();
    match built {
        Ok(_) => tracing::info!("window opened"),
        Err(error) => tracing::error!(%error, "cannot open the window"),
    }
}
