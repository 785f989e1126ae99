//! Desktop notifications (connect, disconnect, gateway failover, errors), best effort: without a
//! notification service nothing is shown. One backend per OS.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod other;

use crate::model::Notice;

/// Shows one notification (off the caller's task: D-Bus may be slow or absent).
pub fn show(notice: &Notice) {
    let (title, body) = notice.text();
    tracing::info!(%title, %body, "notification");
    #[cfg(target_os = "linux")]
    tokio::spawn(async move {
        if let Err(error) = linux::show(&title, &body).await {
            tracing::debug!(%error, "no notification shown");
        }
    });
    #[cfg(not(target_os = "linux"))]
    tokio::task::spawn_blocking(move || {
        if let Err(error) = other::show(&title, &body) {
            tracing::debug!(%error, "no notification shown");
        }
    });
}
