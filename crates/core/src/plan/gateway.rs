//! The service gateway: the one segment that carries the service CIDR. Service IPs are DNATed by
//! kube-proxy on every node, so service traffic must enter through one node and return through it.

use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::plan::GatewayRule;
use crate::topology::Segment;

/// The index of the gateway segment and the rule that chose it: the requested node's segment, else the
/// first segment (Kilo's order) whose leader is not behind NAT, else the first segment.
pub fn choose(
    segments: &[Segment],
    requested: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(usize, GatewayRule)> {
    if let Some(node) = requested {
        if let Some(i) = segments.iter().position(|s| s.nodes.iter().any(|n| n == node)) {
            return Some((
                i,
                GatewayRule::Requested {
                    node: node.to_owned(),
                },
            ));
        }
        diagnostics.push(Diagnostic::object(
            ObjectRef::setting("service-gateway"),
            format!("node {node:?} is in no segment (unknown or not ready); using the default gateway"),
        ));
    }
    match segments.iter().position(|s| !s.leader_behind_nat) {
        Some(i) => Some((i, GatewayRule::FirstNotBehindNat)),
        None if segments.is_empty() => None,
        None => Some((0, GatewayRule::FirstSegment)),
    }
}
