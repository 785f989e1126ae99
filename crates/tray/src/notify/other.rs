//! Notifications on macOS and Windows, through `notify-rust` (Notification Center, toasts).

/// Shows one notification.
pub fn show(title: &str, body: &str) -> Result<(), notify_rust::error::Error> {
    notify_rust::Notification::new()
        .appname("kubewire")
        .summary(title)
        .body(body)
        .show()
        .map(|_| ())
}
