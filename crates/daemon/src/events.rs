//! Events to subscribers: `Status` on every change (published by the daemon where it changes),
//! `PeerStats` every 2 s while someone subscribes, and a `Status` when the assessed state changes
//! by itself (a peer's handshake goes stale).

use std::sync::Arc;
use std::time::Duration;

use kubewire_ipc::{Event, TunnelState};

use crate::daemon::Daemon;

/// How often statistics are pushed.
pub const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// Runs until the process ends.
pub async fn run(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(STATS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_state: Option<TunnelState> = None;
    loop {
        tick.tick().await;
        if !daemon.has_subscribers() {
            continue;
        }
        let Some(status) = daemon.peer_stats().await else {
            last_state = None;
            continue;
        };
        if last_state.is_some_and(|s| s != status.state) {
            daemon.publish(Event::Status {
                status: Box::new(status.clone()),
            });
        }
        last_state = Some(status.state);
        daemon.publish(Event::PeerStats { peers: status.peers });
    }
}
