//! Filtering a segment's `allowed-location-ips` (Kilo's `filterAllowedLocationIPs`, as the notes state
//! it): a range is dropped when it overlaps another segment's location IPs, lies inside any segment's
//! AllowedIPs, or overlaps any Kilo Peer's allowed IPs.

use ipnet::{IpNet, Ipv4Net};

use super::{Segment, TopologyPeer};
use crate::cidr::overlaps;
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::overlap::SpanIndex;

/// Every segment AllowedIP (as networks), sorted, for "is this range inside one of them" questions:
/// IPv4 ones packed as `address << 8 | prefix` (cheap to sort and search), IPv6 ones as pairs.
struct AllowedIndex {
    v4: Vec<u64>,
    v6: Vec<(u128, u8)>,
}

fn pack_v4(net: &Ipv4Net) -> u64 {
    u64::from(u32::from(net.network())) << 8 | u64::from(net.prefix_len())
}

impl AllowedIndex {
    fn new(segments: &[Segment]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in segments.iter().flat_map(|s| &s.allowed_ips) {
            match a.net {
                IpNet::V4(n) => v4.push(pack_v4(&n)),
                IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len())),
            }
        }
        v4.sort_unstable();
        v6.sort_unstable();
        Self { v4, v6 }
    }

    /// The AllowedIP `net` lies inside, if any (looks up each of its supernets, longest first).
    fn containing(&self, net: &IpNet) -> Option<IpNet> {
        (0..=net.prefix_len()).rev().find_map(|len| {
            let candidate = IpNet::new(net.network(), len).ok()?.trunc();
            let found = match candidate {
                IpNet::V4(n) => self.v4.binary_search(&pack_v4(&n)).is_ok(),
                IpNet::V6(n) => self
                    .v6
                    .binary_search(&(u128::from(n.network()), n.prefix_len()))
                    .is_ok(),
            };
            found.then_some(candidate)
        })
    }
}

/// Filters every segment's raw location IPs in place; each dropped range becomes a diagnostic on the
/// node that asked for it.
pub fn filter(segments: &mut [Segment], peers: &[TopologyPeer], diagnostics: &mut Vec<Diagnostic>) {
    if segments.iter().all(|s| s.location_ips.is_empty()) {
        return;
    }
    let index = AllowedIndex::new(segments);
    let raw: Vec<Vec<IpNet>> = segments
        .iter()
        .map(|s| s.location_ips.iter().map(|l| l.net).collect())
        .collect();
    let peer_index = SpanIndex::new(peers.iter().flat_map(|p| &p.allowed_ips));
    for (si, segment) in segments.iter_mut().enumerate() {
        let nodes = &segment.nodes;
        segment.location_ips.retain(|ip| {
            let why = raw
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != si)
                .find_map(|(other, nets)| nets.iter().find(|n| overlaps(&ip.net, n)).map(|n| (other, *n)))
                .map(|(_, n)| format!("overlaps {n}, a location IP of another segment"))
                .or_else(|| {
                    index
                        .containing(&ip.net)
                        .map(|n| format!("lies inside AllowedIP {n}"))
                })
                .or_else(|| {
                    if !peer_index.overlaps_any(&ip.net) {
                        return None;
                    }
                    peers.iter().find_map(|p| {
                        p.allowed_ips
                            .iter()
                            .find(|n| overlaps(&ip.net, n))
                            .map(|n| format!("overlaps {n} of peer {}", p.name))
                    })
                });
            match why {
                None => true,
                Some(reason) => {
                    diagnostics.push(Diagnostic::field(
                        ObjectRef::node(nodes.get(ip.origin).map_or("", String::as_str)),
                        "kilo.squat.ai/allowed-location-ips",
                        format!("{} {reason}; Kilo leaves it out", ip.net),
                    ));
                    false
                }
            }
        });
    }
}
