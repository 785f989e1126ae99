//! `kubewired cleanup`: the one-shot that package removal scripts run after stopping the service.
//! It does what a starting daemon does first (put the DNS back, then remove the interface and routes
//! its state file lists) and exits, so nothing is left even when the daemon was killed or never
//! stopped cleanly. A daemon that still answers on the socket is left alone: it owns that state.

use std::path::Path;

use anyhow::bail;

use crate::persist::Journal;
use crate::{dns, restore};

/// `Ok(true)`: nothing left behind (or nothing was there).
pub async fn run(socket: &Path, state_dir: &Path) -> anyhow::Result<bool> {
    if crate::os::daemon_answers(socket) {
        bail!(
            "a kubewired is running on {}: stop it first (its SIGTERM path removes everything)",
            socket.display()
        );
    }
    let state_file = Journal::new(state_dir);
    dns::restore_all_at_start(&state_file, &dns::os_paths(state_dir)).await;
    let restored = restore::restore(&state_file);
    tracing::info!(?restored, "cleanup done");
    // The state file is deleted only once its interface and routes are gone.
    Ok(state_file.read_all().is_ok_and(|s| s.is_empty()))
}
