//! Unix: SIGTERM (logout, `kill`) or SIGINT (Ctrl-C).

use tokio::signal::unix::{SignalKind, signal};

/// Returns `true` when a quit signal arrives, `false` at once if they cannot be listened to.
pub async fn quit_requested() -> bool {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        return false;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    true
}
