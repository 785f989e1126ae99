//! Peer health: the one place that says when a WireGuard peer is fresh, stale, never handshaken or
//! still in its grace period. The daemon judges (it knows when each peer was added) and reports the
//! verdict in [`crate::PeerStatus::health`]; the CLI, `doctor`, the failover and the tray read that
//! verdict instead of judging again.
//!
//! The rule, in one place:
//! - a handshake is **fresh** while its age is *below* [`STALE_AFTER_SECS`] (180 s) and **stale**
//!   from 180 s on (`age >= 180`): WireGuard re-keys every 2 minutes while traffic flows and rejects
//!   a session's keys 180 s after the handshake (`REJECT_AFTER_TIME`), so at 180 s the peer is gone;
//! - a peer without any handshake is **in grace** for the first [`GRACE_SECS`] (20 s) after it was
//!   added (`elapsed < 20`), and **never** from 20 s on. The grace is for the first handshake only:
//!   an old handshake is stale at once.
//!
//! Fresh and in-grace peers are fine; never and stale peers make the tunnel degraded.

use serde::{Deserialize, Serialize};

/// A handshake this old (or older) is stale.
pub const STALE_AFTER_SECS: u64 = 180;
/// How long a newly added peer has to make its first handshake before it is judged.
pub const GRACE_SECS: u64 = 20;
/// How long the failover waits for a gateway that never handshook before it moves the service
/// traffic: as long as a handshake takes to go stale (moving the gateway is a bigger step than a
/// warning, so it is not done on the [`GRACE_SECS`] judgement alone).
pub const FAILOVER_GRACE_SECS: u64 = STALE_AFTER_SECS;

/// A peer's health, as judged by [`PeerHealth::judge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerHealth {
    /// The last handshake is younger than [`STALE_AFTER_SECS`].
    Fresh,
    /// The last handshake is [`STALE_AFTER_SECS`] old or older.
    Stale,
    /// No handshake ever, and the grace period is over.
    Never,
    /// No handshake yet, but the peer was added less than the grace period ago.
    InGrace,
}

impl PeerHealth {
    /// Judges a peer from the age of its last handshake (`None`: never) and the seconds since it
    /// was added to the tunnel, with the usual [`GRACE_SECS`].
    #[must_use]
    pub fn judge(last_handshake_secs: Option<u64>, added_secs_ago: u64) -> Self {
        Self::judge_with_grace(last_handshake_secs, added_secs_ago, GRACE_SECS)
    }

    /// [`PeerHealth::judge`] with another grace period (the failover's [`FAILOVER_GRACE_SECS`]).
    #[must_use]
    pub fn judge_with_grace(last_handshake_secs: Option<u64>, added_secs_ago: u64, grace_secs: u64) -> Self {
        match last_handshake_secs {
            Some(age) if age < STALE_AFTER_SECS => Self::Fresh,
            Some(_) => Self::Stale,
            None if added_secs_ago < grace_secs => Self::InGrace,
            None => Self::Never,
        }
    }

    /// Judges a peer whose addition time is unknown (a status from a daemon that did not judge):
    /// no grace period.
    #[must_use]
    pub fn judge_without_grace(last_handshake_secs: Option<u64>) -> Self {
        Self::judge_with_grace(last_handshake_secs, u64::MAX, 0)
    }

    /// Fresh or still in grace: nothing to warn about.
    #[must_use]
    pub fn is_ok(self) -> bool {
        matches!(self, Self::Fresh | Self::InGrace)
    }

    /// Whether the peer has a fresh handshake (traffic to it gets through now).
    #[must_use]
    pub fn is_fresh(self) -> bool {
        self == Self::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG_AGO: u64 = 10_000;

    #[test]
    fn a_handshake_is_fresh_below_180_s_and_stale_from_180_s() {
        assert_eq!(PeerHealth::judge(Some(0), LONG_AGO), PeerHealth::Fresh);
        assert_eq!(PeerHealth::judge(Some(179), LONG_AGO), PeerHealth::Fresh);
        assert_eq!(PeerHealth::judge(Some(180), LONG_AGO), PeerHealth::Stale);
        assert_eq!(PeerHealth::judge(Some(181), LONG_AGO), PeerHealth::Stale);
    }

    #[test]
    fn without_handshake_a_peer_is_in_grace_below_20_s_and_never_from_20_s() {
        assert_eq!(PeerHealth::judge(None, 0), PeerHealth::InGrace);
        assert_eq!(PeerHealth::judge(None, 19), PeerHealth::InGrace);
        assert_eq!(PeerHealth::judge(None, 20), PeerHealth::Never);
        assert_eq!(PeerHealth::judge(None, 21), PeerHealth::Never);
    }

    #[test]
    fn the_grace_is_for_the_first_handshake_only() {
        assert_eq!(PeerHealth::judge(Some(3), 1), PeerHealth::Fresh);
        assert_eq!(PeerHealth::judge(Some(180), 1), PeerHealth::Stale);
        assert_eq!(PeerHealth::judge(Some(400), 5), PeerHealth::Stale);
    }

    #[test]
    fn the_failover_grace_is_as_long_as_a_handshake_takes_to_go_stale() {
        let judge = |added| PeerHealth::judge_with_grace(None, added, FAILOVER_GRACE_SECS);
        assert_eq!(judge(179), PeerHealth::InGrace);
        assert_eq!(judge(180), PeerHealth::Never);
    }

    #[test]
    fn without_a_known_start_there_is_no_grace() {
        assert_eq!(PeerHealth::judge_without_grace(None), PeerHealth::Never);
        assert_eq!(PeerHealth::judge_without_grace(Some(179)), PeerHealth::Fresh);
        assert_eq!(PeerHealth::judge_without_grace(Some(180)), PeerHealth::Stale);
    }

    #[test]
    fn only_fresh_and_in_grace_are_ok() {
        assert!(PeerHealth::Fresh.is_ok());
        assert!(PeerHealth::InGrace.is_ok());
        assert!(!PeerHealth::Stale.is_ok());
        assert!(!PeerHealth::Never.is_ok());
    }

    #[test]
    fn it_reads_as_kebab_case_on_the_wire() {
        let json = serde_json::to_string(&PeerHealth::InGrace).ok();
        assert_eq!(json.as_deref(), Some("\"in-grace\""));
    }
}
