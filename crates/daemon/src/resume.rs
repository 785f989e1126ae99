//! Noticing that the laptop slept or was frozen: every [`TICK`] the daemon reads the monotonic and
//! the wall clock ([`kubewire_core::resume::ResumeClock`]); a wake-up much later than planned, or a
//! wall clock that ran ahead of the monotonic one (a suspend), is a resume, and
//! [`Daemon::resumed`] starts the handshakes over. A wake-up every 5 s, nothing faster.
//! On Linux logind's `PrepareForSleep` tells a suspend too (`logind.rs`); the clocks remain for
//! where it is absent and for a freeze, which nothing announces.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kubewire_core::resume::ResumeClock;

use crate::daemon::Daemon;

/// How often the clocks are read.
const TICK: Duration = Duration::from_secs(5);

/// Runs for the daemon's life.
pub async fn run(daemon: Arc<Daemon>) {
    let started = tokio::time::Instant::now();
    let mut clock = ResumeClock::new(Duration::ZERO, SystemTime::now(), TICK);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(away) = clock.tick(started.elapsed(), SystemTime::now()) {
            tracing::info!(away_secs = away.as_secs(), "resumed (the clocks jumped)");
            daemon.resumed(away).await;
        }
    }
}
