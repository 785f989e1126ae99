//! The API server's reachability: probed every `replan_every` while it answers (each answer
//! refreshes its clock, and a re-plan follows: readiness ages on that clock), and with backoff (1 s,
//! doubling up to `max_backoff`) while it does not. While it is unreachable the Plan in force stays
//! (re-planning would age every node out); when it answers again the watches get
//! [`super::RESUME_SETTLE`] to catch up before the next re-plan.

use std::time::{Duration, Instant, SystemTime};

use super::RESUME_SETTLE;
use super::state::Controller;
use crate::clock::ApiClock;
use crate::events::ControllerEvent;

/// The first wait after a failed probe.
pub(super) const PROBE_FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Whether the API server answers, and when to ask it next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// It answered the last probe.
    Reachable {
        /// The next probe (and re-plan).
        next_probe: Instant,
    },
    /// It did not.
    Unreachable {
        /// Since when (for "after" in the event).
        since: Instant,
        /// Since when, for the user.
        since_wall: SystemTime,
        /// The next probe.
        next_probe: Instant,
        /// The wait after the next failure.
        backoff: Duration,
    },
}

impl Reachability {
    /// When to probe next.
    #[must_use]
    pub fn next_probe(&self) -> Instant {
        match self {
            Self::Reachable { next_probe } | Self::Unreachable { next_probe, .. } => *next_probe,
        }
    }

    /// It answers.
    #[must_use]
    pub fn is_reachable(&self) -> bool {
        matches!(self, Self::Reachable { .. })
    }

    /// Since when it does not answer.
    #[must_use]
    pub fn since_wall(&self) -> Option<SystemTime> {
        match self {
            Self::Reachable { .. } => None,
            Self::Unreachable { since_wall, .. } => Some(*since_wall),
        }
    }
}

impl Controller {
    /// The API server's reachability.
    #[must_use]
    pub fn reachability(&self) -> &Reachability {
        &self.reach
    }

    /// A watch failed: probe at once to tell a dead API server from a passing error.
    pub(super) fn probe_soon(&mut self, now: Instant) {
        if let Reachability::Reachable { next_probe } = &mut self.reach {
            *next_probe = (*next_probe).min(now);
        }
    }

    /// The answer to [`super::Command::Probe`]: the API server's clock, or why it did not answer.
    pub fn handle_probe(&mut self, answer: Result<ApiClock, String>, now: Instant, wall: SystemTime) {
        self.probing = false;
        match answer {
            Ok(clock) => {
                self.clock = clock;
                let was = std::mem::replace(
                    &mut self.reach,
                    Reachability::Reachable {
                        next_probe: now + self.timing.replan_every,
                    },
                );
                if let Reachability::Unreachable { since, .. } = was {
                    let after = now.saturating_duration_since(since);
                    tracing::info!(after_secs = after.as_secs(), "cluster API reachable again");
                    self.emit(ControllerEvent::Reachable { after });
                    self.status_changed = true;
                    // Give the watches a moment to catch up before planning again.
                    self.debounce = Some(now + RESUME_SETTLE);
                } else if self.debounce.is_none() {
                    self.replan(wall);
                }
            }
            Err(message) => {
                match &mut self.reach {
                    Reachability::Reachable { .. } => {
                        tracing::info!(%message, "cluster API unreachable; keeping the last plan and retrying");
                        self.emit(ControllerEvent::Unreachable {
                            since: wall,
                            message: message.clone(),
                        });
                        self.reach = Reachability::Unreachable {
                            since: now,
                            since_wall: wall,
                            next_probe: now + PROBE_FIRST_BACKOFF,
                            backoff: (PROBE_FIRST_BACKOFF * 2).min(self.timing.max_backoff),
                        };
                    }
                    Reachability::Unreachable {
                        next_probe, backoff, ..
                    } => {
                        *next_probe = now + *backoff;
                        *backoff = (*backoff * 2).min(self.timing.max_backoff);
                    }
                }
                self.last_error = Some(message);
                self.status_changed = true;
            }
        }
    }
}
