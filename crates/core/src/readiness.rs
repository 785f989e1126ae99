//! Readiness as Kilo defines it (`Node.Ready`): an endpoint, a key, a pod CIDR, and a `last-seen`
//! less than 60 s before "now". "Now" is passed in: prefer the API server's clock to the laptop's.

use serde::{Deserialize, Serialize};

use crate::model::Node;

/// Kilo agents refresh `last-seen` every 30 s; a node is stale after two periods.
pub const STALE_AFTER_SECONDS: i64 = 60;

/// Why a node is not ready (the first reason found, in Kilo's order).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum NotReady {
    /// No valid `endpoint` / `force-endpoint`.
    NoEndpoint,
    /// No valid `key`.
    NoKey,
    /// No valid `spec.podCIDR`.
    NoPodCidr,
    /// `last-seen` is too old (or missing). The moment, not the age: a Plan made again a minute
    /// later says the same (an age would make every re-plan a new Plan).
    Stale {
        /// `last-seen`, Unix seconds (0 or less: never).
        last_seen: i64,
    },
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEndpoint => f.write_str("not ready: no valid endpoint"),
            Self::NoKey => f.write_str("not ready: no valid WireGuard key"),
            Self::NoPodCidr => f.write_str("not ready: no pod CIDR"),
            Self::Stale { last_seen } if *last_seen <= 0 => {
                f.write_str("not ready: never seen (no last-seen)")
            }
            Self::Stale { last_seen } => write!(
                f,
                "not ready: last seen {} (stale after {STALE_AFTER_SECONDS} s)",
                crate::time::utc(*last_seen)
            ),
        }
    }
}

/// Kilo's readiness test at time `now` (Unix seconds).
pub fn check(node: &Node, now: i64) -> Result<(), NotReady> {
    if node.endpoint.is_none() {
        return Err(NotReady::NoEndpoint);
    }
    match node.key {
        Some(key) if !key.is_zero() => {}
        _ => return Err(NotReady::NoKey),
    }
    if node.pod_cidr.is_none() {
        return Err(NotReady::NoPodCidr);
    }
    let age_seconds = now.saturating_sub(node.last_seen);
    if age_seconds >= STALE_AFTER_SECONDS {
        return Err(NotReady::Stale {
            last_seen: node.last_seen,
        });
    }
    Ok(())
}
