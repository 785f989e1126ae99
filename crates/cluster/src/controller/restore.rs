//! The daemon's comings and goings. A daemon that stops, crashes or is restarted (systemd's
//! `Restart=`, a package upgrade) starts again with no tunnel: it cleans up what its predecessor
//! left and waits, because the laptop's private key is never written to its disk. The controller
//! holds the key and the Plan, so it restores the tunnel: it hears that the daemon went away (its
//! event stream closed), says so, and applies the Plan in force again as soon as the daemon answers
//! (retrying with backoff); then it re-plans as usual, so a change that happened meanwhile follows
//! at once.

use std::time::{Duration, Instant, SystemTime};

use super::RESTORE_FIRST_RETRY;
use super::state::{Apply, Command, Controller};
use crate::events::ControllerEvent;

/// The next attempt to apply the Plan in force to a daemon that answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// When.
    pub at: Instant,
    /// The wait after it if it fails.
    pub backoff: Duration,
    /// It was asked for and is not answered yet.
    pub in_flight: bool,
}

/// The daemon, as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    /// It answers. `restore`: it said it answers (again) without having been seen going away: it
    /// gets the Plan in force once more.
    Attached {
        /// The pending re-apply.
        restore: Option<Retry>,
    },
    /// It went away; Plans wait until it is back.
    Lost {
        /// Since when.
        since: Instant,
        /// Since when, for the user.
        since_wall: SystemTime,
        /// Why.
        message: String,
        /// It answers again: the next attempt to give it the Plan in force.
        retry: Option<Retry>,
    },
}

impl Daemon {
    /// Since when and why it is gone.
    #[must_use]
    pub fn lost(&self) -> Option<(SystemTime, &str)> {
        match self {
            Self::Attached { .. } => None,
            Self::Lost {
                since_wall, message, ..
            } => Some((*since_wall, message)),
        }
    }

    fn retry(&mut self) -> &mut Option<Retry> {
        match self {
            Self::Attached { restore } | Self::Lost { retry: restore, .. } => restore,
        }
    }

    /// When the next attempt is due (none while one is in flight).
    #[must_use]
    pub fn retry_at(&self) -> Option<Instant> {
        match self {
            Self::Attached { restore } | Self::Lost { retry: restore, .. } => {
                restore.filter(|r| !r.in_flight).map(|r| r.at)
            }
        }
    }
}

impl Controller {
    /// The daemon, as the controller sees it.
    #[must_use]
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// The daemon's event stream closed at `now`.
    pub fn handle_daemon_lost(&mut self, message: String, now: Instant, wall: SystemTime) {
        if let Daemon::Lost { retry, .. } = &mut self.daemon {
            *retry = None;
            return;
        }
        tracing::warn!(%message, "the kubewire daemon went away; the tunnel is restored when it is back");
        self.emit(ControllerEvent::DaemonLost {
            message: message.clone(),
        });
        self.daemon = Daemon::Lost {
            since: now,
            since_wall: wall,
            message,
            retry: None,
        };
        self.status_changed = true;
    }

    /// The daemon answers again at `now` (a restarted one has no tunnel): the Plan in force follows.
    pub fn handle_daemon_back(&mut self, now: Instant) {
        if let Daemon::Lost { since, .. } = &self.daemon {
            tracing::info!(
                after_ms = now.saturating_duration_since(*since).as_millis() as u64,
                "the kubewire daemon answers again; applying the plan"
            );
        }
        *self.daemon.retry() = Some(Retry {
            at: now,
            backoff: RESTORE_FIRST_RETRY,
            in_flight: false,
        });
    }

    /// Asks for the Plan in force to be applied again when an attempt is due.
    pub(super) fn restore_if_due(&mut self, now: Instant) {
        let has_plan = self.last_sent.is_some();
        let Some(retry) = self.daemon.retry() else {
            return;
        };
        if retry.in_flight || retry.at > now {
            return;
        }
        if !has_plan {
            // Nothing to give it.
            self.daemon = Daemon::Attached { restore: None };
            self.status_changed = true;
            return;
        }
        retry.in_flight = true;
        if let Some(plan) = self.last_sent.clone() {
            self.commands.push_back(Command::Apply(Apply {
                plan: Box::new(plan),
                restore: true,
            }));
        }
    }

    /// The answer to a restoring [`Command::Apply`].
    pub(super) fn restored(
        &mut self,
        plan: kubewire_core::Plan,
        result: Result<(), String>,
        now: Instant,
        wall: SystemTime,
    ) {
        match result {
            Ok(()) => {
                let after = match &self.daemon {
                    Daemon::Lost { since, .. } => now.saturating_duration_since(*since),
                    Daemon::Attached { .. } => Duration::ZERO,
                };
                tracing::info!(
                    after_ms = after.as_millis() as u64,
                    peers = plan.peers.len(),
                    "the tunnel is restored on the restarted daemon"
                );
                self.emit(ControllerEvent::DaemonBack { after });
                self.daemon = Daemon::Attached { restore: None };
                self.pending = false;
                self.plan_sent_at = Some(super::unix(wall));
                self.status_changed = true;
                // Anything that changed in the cluster meanwhile.
                self.replan(wall);
            }
            Err(message) => {
                tracing::info!(error = %message, "re-applying the plan to the daemon failed; retrying");
                self.emit(ControllerEvent::SinkFailed { message });
                let max = self.timing.max_backoff;
                if let Some(retry) = self.daemon.retry() {
                    retry.at = now + retry.backoff;
                    retry.backoff = (retry.backoff * 2).min(max);
                    retry.in_flight = false;
                }
            }
        }
    }
}
