//! Service gateway failover, as a pure decision. Service traffic enters the cluster through one
//! segment (the gateway). When that segment is stale or never handshook ([`kubewire_ipc::health`],
//! with the failover's longer grace [`FAILOVER_GRACE_SECS`] for a first handshake) while
//! another segment is healthy, the service CIDR moves to the healthy one (through the Plan request's
//! service-gateway setting); when the original gateway is healthy again, it moves back.

use std::collections::BTreeMap;
use std::time::Duration;

use kubewire_core::Plan;
use kubewire_core::plan::PeerKind;
use kubewire_ipc::PeerHealth;
use kubewire_ipc::health::FAILOVER_GRACE_SECS;

/// One segment, as failover sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentView {
    /// The Plan's peer entry name.
    pub peer: String,
    /// Its leader node.
    pub leader: String,
}

/// The segments of a Plan, in Plan order.
#[must_use]
pub fn segments(plan: &Plan) -> Vec<SegmentView> {
    plan.peers
        .iter()
        .filter_map(|p| match &p.kind {
            PeerKind::Segment { leader, .. } => Some(SegmentView {
                peer: p.name.clone(),
                leader: leader.clone(),
            }),
            PeerKind::KiloPeer => None,
        })
        .collect()
}

/// What failover looks at.
#[derive(Debug, Clone)]
pub struct FailoverInput<'a> {
    /// The current Plan's segments.
    pub segments: &'a [SegmentView],
    /// The peer entry that carries the service CIDR now.
    pub gateway: Option<&'a str>,
    /// The gateway's peer entry before any failover (the one to go back to).
    pub original: Option<&'a str>,
    /// Seconds since the last handshake per peer entry; `None` = never.
    pub handshake_ages: &'a BTreeMap<String, Option<u64>>,
    /// The failover's node, when one is in force.
    pub current_override: Option<&'a str>,
    /// How long the tunnel has been up ("never" counts only after [`FAILOVER_GRACE_SECS`]).
    pub up_for: Duration,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverDecision {
    /// Nothing.
    Keep,
    /// Put the service CIDR on this node's segment.
    MoveTo {
        /// The node to name as service gateway.
        node: String,
        /// Its segment's peer entry.
        peer: String,
        /// Why, for logs and status.
        reason: String,
    },
    /// Drop the override: the original gateway is healthy again.
    Restore {
        /// Why.
        reason: String,
    },
}

/// The peer's health; not reported counts as never.
fn health(input: &FailoverInput<'_>, peer: &str) -> PeerHealth {
    let age = input.handshake_ages.get(peer).copied().flatten();
    PeerHealth::judge_with_grace(age, input.up_for.as_secs(), FAILOVER_GRACE_SECS)
}

fn healthy(input: &FailoverInput<'_>, peer: &str) -> bool {
    health(input, peer).is_fresh()
}

fn stale(input: &FailoverInput<'_>, peer: &str) -> bool {
    !health(input, peer).is_ok()
}

fn describe(input: &FailoverInput<'_>, peer: &str) -> String {
    match input.handshake_ages.get(peer) {
        Some(Some(age)) => format!("last handshake {age} s ago"),
        _ => "no handshake yet".to_owned(),
    }
}

/// Decides whether the service gateway should move.
#[must_use]
pub fn decide(input: &FailoverInput<'_>) -> FailoverDecision {
    // Back to the original when it recovered.
    if input.current_override.is_some()
        && let Some(original) = input.original
        && input.segments.iter().any(|s| s.peer == original)
        && healthy(input, original)
    {
        return FailoverDecision::Restore {
            reason: format!("{original} is healthy again ({})", describe(input, original)),
        };
    }
    let Some(gateway) = input.gateway else {
        return FailoverDecision::Keep;
    };
    if !stale(input, gateway) {
        return FailoverDecision::Keep;
    }
    match input
        .segments
        .iter()
        .find(|s| s.peer != gateway && healthy(input, &s.peer))
    {
        Some(target) => FailoverDecision::MoveTo {
            node: target.leader.clone(),
            peer: target.peer.clone(),
            reason: format!(
                "gateway {gateway} is unhealthy ({}) while {} is healthy ({})",
                describe(input, gateway),
                target.peer,
                describe(input, &target.peer)
            ),
        },
        None => FailoverDecision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs() -> Vec<SegmentView> {
        ["aws", "gcp", "azure"]
            .iter()
            .map(|n| SegmentView {
                peer: format!("location:{n}"),
                leader: format!("{n}-1"),
            })
            .collect()
    }

    fn ages(list: &[(&str, Option<u64>)]) -> BTreeMap<String, Option<u64>> {
        list.iter().map(|(n, a)| (format!("location:{n}"), *a)).collect()
    }

    fn input<'a>(
        segments: &'a [SegmentView],
        gateway: &'a str,
        ages: &'a BTreeMap<String, Option<u64>>,
        current_override: Option<&'a str>,
    ) -> FailoverInput<'a> {
        FailoverInput {
            segments,
            gateway: Some(gateway),
            original: Some("location:aws"),
            handshake_ages: ages,
            current_override,
            up_for: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_healthy_gateway_stays() {
        let s = segs();
        let a = ages(&[("aws", Some(30)), ("gcp", Some(10)), ("azure", Some(5))]);
        assert_eq!(
            decide(&input(&s, "location:aws", &a, None)),
            FailoverDecision::Keep
        );
        // 179 s is still healthy.
        let a = ages(&[("aws", Some(179)), ("gcp", Some(10))]);
        assert_eq!(
            decide(&input(&s, "location:aws", &a, None)),
            FailoverDecision::Keep
        );
        // 180 s is stale.
        let a = ages(&[("aws", Some(180)), ("gcp", Some(10))]);
        assert!(matches!(
            decide(&input(&s, "location:aws", &a, None)),
            FailoverDecision::MoveTo { .. }
        ));
    }

    #[test]
    fn a_stale_gateway_moves_to_the_first_healthy_segment() {
        let s = segs();
        let a = ages(&[("aws", Some(181)), ("gcp", Some(200)), ("azure", Some(5))]);
        match decide(&input(&s, "location:aws", &a, None)) {
            FailoverDecision::MoveTo { node, peer, reason } => {
                assert_eq!(node, "azure-1");
                assert_eq!(peer, "location:azure");
                assert!(reason.contains("181 s"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nowhere_healthy_means_no_move() {
        let s = segs();
        let a = ages(&[("aws", Some(400)), ("gcp", None), ("azure", Some(500))]);
        assert_eq!(
            decide(&input(&s, "location:aws", &a, None)),
            FailoverDecision::Keep
        );
    }

    #[test]
    fn never_handshaken_is_stale_only_after_the_grace_period() {
        let s = segs();
        let a = ages(&[("aws", None), ("gcp", Some(3))]);
        let mut i = input(&s, "location:aws", &a, None);
        i.up_for = Duration::from_secs(20);
        assert_eq!(decide(&i), FailoverDecision::Keep);
        i.up_for = Duration::from_secs(179);
        assert_eq!(decide(&i), FailoverDecision::Keep);
        i.up_for = Duration::from_secs(180);
        assert!(matches!(decide(&i), FailoverDecision::MoveTo { .. }));
    }

    #[test]
    fn it_moves_back_when_the_original_recovers() {
        let s = segs();
        let a = ages(&[("aws", Some(200)), ("gcp", Some(3))]);
        // Failed over to gcp, aws still stale: keep.
        assert_eq!(
            decide(&input(&s, "location:gcp", &a, Some("gcp-1"))),
            FailoverDecision::Keep
        );
        let a = ages(&[("aws", Some(4)), ("gcp", Some(3))]);
        assert!(matches!(
            decide(&input(&s, "location:gcp", &a, Some("gcp-1"))),
            FailoverDecision::Restore { .. }
        ));
        // Without an override there is nothing to restore.
        assert_eq!(
            decide(&input(&s, "location:aws", &a, None)),
            FailoverDecision::Keep
        );
    }

    #[test]
    fn the_failover_target_failing_too_moves_on() {
        let s = segs();
        let a = ages(&[("aws", Some(900)), ("gcp", Some(300)), ("azure", Some(2))]);
        match decide(&input(&s, "location:gcp", &a, Some("gcp-1"))) {
            FailoverDecision::MoveTo { node, .. } => assert_eq!(node, "azure-1"),
            other => panic!("{other:?}"),
        }
    }
}
