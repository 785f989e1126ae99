//! Windows: Ctrl-C (the console's close and logoff events end the process anyway).

/// Returns `true` when a quit signal arrives, `false` at once if it cannot be listened to.
pub async fn quit_requested() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}
