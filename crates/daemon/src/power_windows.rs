//! Windows: the service control manager's power events (`SERVICE_CONTROL_POWEREVENT`: suspend,
//! resume), forwarded by the service's handler in `os/windows.rs`. A resume starts every handshake
//! over, as logind's does on Linux. When kubewired runs in a console (not as the service) none
//! arrive, and the clocks tell a resume ([`crate::resume`]).

use std::sync::Arc;
use std::time::SystemTime;

use crate::daemon::Daemon;
use crate::power::SleepClock;

/// Runs for the daemon's life.
pub async fn run(daemon: Arc<Daemon>) {
    let Some(mut events) = crate::os::power_events() else {
        return;
    };
    let mut clock = SleepClock::default();
    while let Some(event) = events.recv().await {
        tracing::info!(?event, "Windows power event");
        if let Some(away) = clock.heard(event, SystemTime::now()) {
            tracing::info!(away_secs = away.as_secs(), "Windows: resumed");
            daemon.resumed(away).await;
        }
    }
}
