//! Desktop notifications (connect, disconnect, gateway failover, errors), best effort: without a
//! notification service nothing is shown.

use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::model::Notice;

/// Shows one notification (off the caller's thread: D-Bus may be slow or absent).
pub fn show(app: &AppHandle, notice: &Notice) {
    let (title, body) = notice.text();
    tracing::info!(%title, %body, "notification");
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(error) = app.notification().builder().title(title).body(body).show() {
            tracing::debug!(%error, "no notification shown");
        }
    });
}
