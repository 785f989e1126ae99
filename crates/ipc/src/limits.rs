//! The daemon socket's limits, so that no local user can starve the daemon (or root) of descriptors,
//! memory or log space:
//!
//! - [`Limits`]: how many connections one user, and all non-root users together, may hold; how long
//!   a connection may stay silent before its first request (and between requests, unless it is a
//!   controller or a subscriber); how long one frame may take to arrive once it started.
//! - [`Tracker`]: counts live connections per uid; a [`Slot`] is given back when its connection ends.
//!   Root is never refused (and not counted against the non-root total).
//! - [`AcceptBackoff`]: what to do after a failed `accept` (EMFILE, ENFILE, ...): wait a growing
//!   while instead of spinning, and log at most once per interval with the number left unsaid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits of the daemon's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections one non-root user may hold at once.
    pub per_user: usize,
    /// Connections all non-root users together may hold at once (well under the process's
    /// descriptor limit, so root and the tunnel always have descriptors left).
    pub non_root_total: usize,
    /// A connection must send its first request within this time; one that is neither a
    /// controller nor a subscriber must also send each next request within it.
    pub idle: Duration,
    /// Once the first byte of a frame arrived, the whole frame must arrive within this time.
    pub frame: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A tray holds two (controller, events) plus short ones for actions and the CLI.
            per_user: 16,
            non_root_total: 128,
            idle: Duration::from_secs(30),
            frame: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    per_uid: HashMap<u32, usize>,
    non_root: usize,
}

/// Live connections per uid.
#[derive(Clone, Debug)]
pub struct Tracker {
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// This user holds [`Limits::per_user`] connections already.
    PerUser(usize),
    /// All non-root users together hold [`Limits::non_root_total`].
    Total(usize),
}

impl Refused {
    /// The message the refused client gets.
    #[must_use]
    pub fn message(self) -> String {
        match self {
            Self::PerUser(n) => format!(
                "too many connections to the kubewire daemon from your user (limit {n}): \
                 close other kubewire clients (trays, `kubewire connect`) and try again"
            ),
            Self::Total(n) => format!(
                "too many connections to the kubewire daemon from local users (limit {n}): \
                 try again later; root can see who holds them with `ss -xp`"
            ),
        }
    }
}

/// One counted connection; dropping it gives the place back.
#[derive(Debug)]
pub struct Slot {
    uid: u32,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock() {
            if let Some(n) = c.per_uid.get_mut(&self.uid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_uid.remove(&self.uid);
                }
            }
            if self.uid != 0 {
                c.non_root = c.non_root.saturating_sub(1);
            }
        }
    }
}

impl Tracker {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            counts: Arc::default(),
        }
    }

    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes a place for a connection of `uid`, or says why not. Root always gets one.
    pub fn acquire(&self, uid: u32) -> Result<Slot, Refused> {
        let mut c = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if uid != 0 {
            let mine = c.per_uid.get(&uid).copied().unwrap_or(0);
            if mine >= self.limits.per_user {
                return Err(Refused::PerUser(self.limits.per_user));
            }
            if c.non_root >= self.limits.non_root_total {
                return Err(Refused::Total(self.limits.non_root_total));
            }
            c.non_root += 1;
        }
        *c.per_uid.entry(uid).or_insert(0) += 1;
        Ok(Slot {
            uid,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Connections `uid` holds now.
    #[must_use]
    pub fn held_by(&self, uid: u32) -> usize {
        self.counts
            .lock()
            .map(|c| c.per_uid.get(&uid).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Back-off and log rate limiting after failed accepts.
#[derive(Debug)]
pub struct AcceptBackoff {
    delay: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

/// The first wait after a failed accept.
const FIRST_DELAY: Duration = Duration::from_millis(10);
/// The longest wait.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// At most one log line per this interval.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self {
            delay: FIRST_DELAY,
            last_log: None,
            unlogged: 0,
        }
    }
}

/// What to do after one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    /// Wait this long before the next accept.
    pub wait: Duration,
    /// Log now, saying that this many failures before it were not logged.
    pub log: Option<u64>,
}

impl AcceptBackoff {
    /// One failure at `now`.
    pub fn failed(&mut self, now: Instant) -> AfterFailure {
        let wait = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        let due = self
            .last_log
            .is_none_or(|t| now.saturating_duration_since(t) >= LOG_EVERY);
        let log = if due {
            self.last_log = Some(now);
            Some(std::mem::take(&mut self.unlogged))
        } else {
            self.unlogged += 1;
            None
        };
        AfterFailure { wait, log }
    }

    /// An accept succeeded: the next failure waits the shortest time again.
    pub fn succeeded(&mut self) {
        self.delay = FIRST_DELAY;
    }
}

/// Whether an accept error means "out of descriptors" (the process's or the system's).
#[must_use]
pub fn out_of_descriptors(err: &std::io::Error) -> bool {
    // EMFILE 24, ENFILE 23 on Linux; EMFILE 24, ENFILE 23 on macOS too.
    matches!(err.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_user: usize, total: usize) -> Limits {
        Limits {
            per_user,
            non_root_total: total,
            ..Limits::default()
        }
    }

    #[test]
    fn a_user_gets_at_most_per_user_and_places_come_back() {
        let t = Tracker::new(limits(2, 10));
        let a = t.acquire(1000).unwrap();
        let _b = t.acquire(1000).unwrap();
        assert_eq!(t.acquire(1000).unwrap_err(), Refused::PerUser(2));
        assert!(t.acquire(1001).is_ok(), "another user is not affected");
        drop(a);
        assert!(t.acquire(1000).is_ok());
    }

    #[test]
    fn non_root_users_together_are_capped_and_root_never_is() {
        let t = Tracker::new(limits(5, 3));
        let held: Vec<_> = (1..=3).map(|u| t.acquire(u).unwrap()).collect();
        assert_eq!(t.acquire(4).unwrap_err(), Refused::Total(3));
        let roots: Vec<_> = (0..100).map(|_| t.acquire(0).unwrap()).collect();
        assert_eq!(t.held_by(0), 100);
        drop(roots);
        drop(held);
        assert_eq!(t.held_by(0), 0);
        assert!(t.acquire(4).is_ok());
    }

    #[test]
    fn refusals_say_what_to_do() {
        assert!(
            Refused::PerUser(16)
                .message()
                .contains("close other kubewire clients")
        );
        assert!(Refused::Total(128).message().contains("try again later"));
    }

    #[test]
    fn failures_back_off_and_log_once_per_interval() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let first = b.failed(t0);
        assert_eq!(first.log, Some(0));
        assert_eq!(first.wait, FIRST_DELAY);
        let mut waits = Vec::new();
        for i in 1..=20 {
            let f = b.failed(t0 + Duration::from_millis(i));
            assert_eq!(f.log, None);
            waits.push(f.wait);
        }
        assert_eq!(*waits.last().unwrap(), MAX_DELAY);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(b.failed(t0 + LOG_EVERY).log, Some(20));
        b.succeeded();
        assert_eq!(b.failed(t0 + LOG_EVERY * 3).wait, FIRST_DELAY);
    }

    #[test]
    fn emfile_and_enfile_are_out_of_descriptors() {
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(24)));
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(23)));
        assert!(!out_of_descriptors(&std::io::Error::from_raw_os_error(104)));
    }
}
