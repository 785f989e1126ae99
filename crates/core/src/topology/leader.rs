//! Leader election within a segment (Kilo's `findLeader`).

use crate::cidr::is_public;
use crate::model::Node;

fn has_public_ip(node: &Node) -> bool {
    node.endpoint.as_ref().and_then(|e| e.ip()).is_some_and(is_public)
}

/// The index of the leader among `nodes`, which must be sorted by name: the first annotated leader with
/// a public endpoint IP, else the first annotated leader, else the first node with a public endpoint
/// IP, else the first node. A DNS-name endpoint is not a public IP.
#[must_use]
pub fn find_leader(nodes: &[&Node]) -> usize {
    let mut first_leader = None;
    let mut first_public = None;
    for (i, node) in nodes.iter().enumerate() {
        let public = has_public_ip(node);
        if node.leader {
            if public {
                return i;
            }
            first_leader.get_or_insert(i);
        }
        if public {
            first_public.get_or_insert(i);
        }
    }
    first_leader.or(first_public).unwrap_or(0)
}
