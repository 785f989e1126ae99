//! Notifications on Linux: `org.freedesktop.Notifications.Notify` on the session bus (one call; the
//! bus connection is made once and kept).

use std::collections::HashMap;

use tokio::sync::OnceCell;
use zbus::zvariant::Value;

static BUS: OnceCell<zbus::Connection> = OnceCell::const_new();

/// Sends one notification.
pub async fn show(title: &str, body: &str) -> zbus::Result<()> {
    let bus = BUS.get_or_try_init(zbus::Connection::session).await?;
    let hints: HashMap<&str, Value<'_>> = HashMap::new();
    bus.call_method(
        Some("org.freedesktop.Notifications"),
        "/org/freedesktop/Notifications",
        Some("org.freedesktop.Notifications"),
        "Notify",
        &(
            "kubewire",
            0u32,
            "network-vpn",
            title,
            body,
            Vec::<&str>::new(),
            hints,
            -1i32,
        ),
    )
    .await?;
    Ok(())
}
