//! The network monitor: the laptop's networks change under the tunnel (a LAN joined after connect,
//! a VPN, Docker), and the daemon follows. Every change of links, addresses or routes (events from
//! the OS, never polling) is debounced and then handed to [`Daemon::network_changed`], which
//! re-checks the session's Plan against the networks now present: a range a local network now
//! overlaps leaves the tunnel, and comes back when the overlap goes. Linux listens on rtnetlink
//! (`linux.rs`); macOS and Windows get address changes from the OS (`other.rs`, if-watch).

use std::sync::Arc;
use std::time::Duration;

use crate::daemon::Daemon;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux::Watch;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other::Watch;

/// Quiet time that ends a burst of events (an interface coming up brings a dozen).
const SETTLE: Duration = Duration::from_millis(200);
/// A burst never delays the re-check longer than this.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// After a read error, the next read waits this long (no spinning on a broken socket).
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Runs for the daemon's life.
pub async fn run(daemon: Arc<Daemon>) {
    let mut watch = match Watch::open() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "network monitor unavailable: local networks are re-read at each Plan only");
            return;
        }
    };
    tracing::debug!("network monitor started");
    loop {
        if let Err(e) = watch.changed().await {
            tracing::warn!(error = %e, "network monitor: read failed; re-checking anyway");
            tokio::time::sleep(ERROR_BACKOFF).await;
        }
        let burst = tokio::time::Instant::now() + MAX_DELAY;
        while tokio::time::Instant::now() < burst {
            match tokio::time::timeout(SETTLE, watch.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        daemon.network_changed().await;
    }
}
