//! The laptop slept, was frozen, or its network moved: the watches' connections may be dead without
//! knowing it yet (a TCP connection to the API server across a suspend can wait minutes for its
//! timeout), and the readiness clock jumped. Do not wait: probe the API server at once, ask the
//! shell for fresh watches (which list everything again), and send the Plan again after the watches
//! had a moment to catch up, even if it did not change (the daemon then resolves endpoint names
//! again and the handshakes start over).

use std::time::{Duration, Instant};

use super::RESUME_SETTLE;
use super::reach::Reachability;
use super::state::{Command, Controller};

impl Controller {
    /// The laptop resumed after being away for `away` (a clock jump the shell saw, or the OS's
    /// word), noticed at `now`.
    pub fn handle_resume(&mut self, away: Duration, now: Instant) {
        tracing::info!(
            away_secs = away.as_secs(),
            "resumed after {}; probing the API server and re-watching the cluster",
            kubewire_core::resume::away(away)
        );
        match &mut self.reach {
            Reachability::Reachable { next_probe } => *next_probe = now,
            Reachability::Unreachable {
                next_probe, backoff, ..
            } => {
                *next_probe = now;
                *backoff = super::reach::PROBE_FIRST_BACKOFF;
            }
        }
        if !self.commands.contains(&Command::Rewatch) {
            self.commands.push_back(Command::Rewatch);
        }
        // Send the Plan again once the fresh lists are in, same or not.
        self.pending = true;
        self.debounce = Some(now + RESUME_SETTLE);
        self.status_changed = true;
    }
}
