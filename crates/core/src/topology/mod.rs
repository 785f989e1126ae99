//! The Kilo topology (pkg/mesh/topology.go): segments, leaders, AllowedIPs, WireGuard IPs, filtered
//! location IPs, NAT endpoints. Input: the ready nodes and Peers; output: segments in Kilo's order.

mod leader;
mod location_ips;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use leader::find_leader;

use crate::cidr::one_address;
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::endpoint::Endpoint;
use crate::key::PublicKey;
use crate::model::{Granularity, KiloPeer, Node};

/// Kilo's default WireGuard subnet.
pub const DEFAULT_SUBNET: &str = "10.4.0.0/16";

/// A range and the node (or Peer) that put it there.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Sourced {
    /// The range.
    pub net: IpNet,
    /// The node that asked for it: an index into its segment's `nodes`.
    pub origin: usize,
}

/// One Kilo segment: the nodes reached through one leader.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Segment {
    /// Kilo's location key: `location:<name>` or `node:<name>`; segments sort by it.
    pub location: String,
    /// Names of the nodes, sorted.
    pub nodes: Vec<String>,
    /// Name of the leader.
    pub leader: String,
    /// The leader's index in `nodes`.
    pub leader_index: usize,
    /// The leader's key.
    pub key: PublicKey,
    /// The leader's endpoint, or its discovered endpoint when it is behind NAT.
    pub endpoint: Option<Endpoint>,
    /// The leader has a non-zero persistent keepalive.
    pub leader_behind_nat: bool,
    /// The WireGuard IP Kilo gives the leader (subnet + position + 1).
    pub wireguard_ip: Option<IpAddr>,
    /// Pod CIDRs and internal IPs (/32) of the nodes by name, then the WireGuard IP (/32).
    pub allowed_ips: Vec<Sourced>,
    /// The segment's `allowed-location-ips` that survived filtering, sorted as Kilo sorts them.
    pub location_ips: Vec<Sourced>,
}

impl Segment {
    /// The name of the node that asked for a range of this segment.
    #[must_use]
    pub fn origin_name(&self, range: &Sourced) -> &str {
        self.nodes.get(range.origin).map_or("", String::as_str)
    }
}

/// A Kilo Peer as the topology sees it (allowed IPs deduplicated across Peers as Kilo does).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TopologyPeer {
    /// Name.
    pub name: String,
    /// Allowed IPs, minus exact duplicates of an earlier Peer's (by name).
    pub allowed_ips: Vec<IpNet>,
    /// Key.
    pub public_key: PublicKey,
    /// The Peer's endpoint, or a discovered one when its keepalive is non-zero.
    pub endpoint: Option<Endpoint>,
    /// Persistent keepalive (seconds).
    pub persistent_keepalive: i64,
    /// A preshared key is set.
    pub has_preshared_key: bool,
}

/// The whole topology.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Topology {
    /// Granularity used.
    pub granularity: Granularity,
    /// The Kilo WireGuard subnet.
    pub subnet: IpNet,
    /// Segments sorted by location key.
    pub segments: Vec<Segment>,
    /// Peers sorted by name.
    pub peers: Vec<TopologyPeer>,
    /// What Kilo would log as warnings (dropped location IPs, duplicate Peer IPs, exhausted subnet).
    pub diagnostics: Vec<Diagnostic>,
}

/// Kilo's location key, `location:<location>` or `node:<name>`, as a pair that sorts the same way
/// ("location:" < "node:") without building the string for every node.
pub(crate) fn location_key<'a>(
    node: &'a Node,
    granularity: Granularity,
    topology_label: &str,
) -> (&'static str, &'a str) {
    match granularity {
        Granularity::Location if node.internal_ip.is_some() => ("location:", node.location(topology_label)),
        Granularity::Location | Granularity::Full => ("node:", &node.name),
    }
}

/// The `n`th address after the network address of `subnet`, if still inside it.
fn nth_address(subnet: &IpNet, n: u128) -> Option<IpAddr> {
    let ip = match subnet.network() {
        IpAddr::V4(v4) => {
            let value = u128::from(u32::from(v4)).checked_add(n)?;
            IpAddr::V4(u32::try_from(value).ok()?.into())
        }
        IpAddr::V6(v6) => IpAddr::V6(u128::from(v6).checked_add(n)?.into()),
    };
    subnet.contains(&ip).then_some(ip)
}

fn dedup_peers(peers: &[&KiloPeer], diagnostics: &mut Vec<Diagnostic>) -> Vec<TopologyPeer> {
    let mut sorted: Vec<&KiloPeer> = peers.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen: HashSet<IpNet> = HashSet::new();
    sorted
        .into_iter()
        .map(|p| {
            let allowed_ips = p
                .allowed_ips
                .iter()
                .filter(|ip| {
                    let fresh = seen.insert(**ip);
                    if !fresh {
                        diagnostics.push(Diagnostic::field(
                            ObjectRef::peer(&p.name),
                            "spec.allowedIPs",
                            format!("{ip} is already claimed by another Peer; Kilo leaves it out"),
                        ));
                    }
                    fresh
                })
                .copied()
                .collect();
            TopologyPeer {
                name: p.name.clone(),
                allowed_ips,
                public_key: p.public_key,
                endpoint: p.endpoint.clone(),
                persistent_keepalive: p.persistent_keepalive,
                has_preshared_key: p.has_preshared_key,
            }
        })
        .collect()
}

fn build_segment(location: &str, members: &mut [&Node]) -> Option<Segment> {
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let leader = members.get(find_leader(members)).copied()?;
    let key = leader.key?;
    let mut allowed_ips = Vec::with_capacity(members.len() * 2 + 1);
    let mut location_ips: Vec<Sourced> = Vec::new();
    for (origin, node) in members.iter().enumerate() {
        if let Some(pod) = node.pod_cidr {
            allowed_ips.push(Sourced { net: pod, origin });
        }
        for ip in &node.allowed_location_ips {
            if !location_ips.iter().any(|l| l.net == *ip) {
                location_ips.push(Sourced { net: *ip, origin });
            }
        }
        if let Some(internal) = node.internal_ip {
            allowed_ips.push(Sourced {
                net: one_address(internal.addr()),
                origin,
            });
        }
    }
    let leader_index = members.iter().position(|n| n.name == leader.name).unwrap_or(0);
    location_ips.sort_by_cached_key(|l| l.net.to_string());
    Some(Segment {
        location: location.to_owned(),
        nodes: members.iter().map(|n| n.name.clone()).collect(),
        leader: leader.name.clone(),
        leader_index,
        key,
        endpoint: leader.endpoint.clone(),
        leader_behind_nat: leader.behind_nat(),
        wireguard_ip: None,
        allowed_ips,
        location_ips,
    })
}

impl Topology {
    /// Builds the topology of the given ready nodes and ready Peers (any order).
    #[must_use]
    pub fn build(
        nodes: &[&Node],
        peers: &[&KiloPeer],
        granularity: Granularity,
        subnet: IpNet,
        topology_label: &str,
    ) -> Self {
        let mut diagnostics = Vec::new();
        // Grouped by location key with a hash index, then sorted: Kilo's "segments sorted by location".
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        let mut groups: Vec<((&str, &str), Vec<&Node>)> = Vec::new();
        for node in nodes {
            let key = location_key(node, granularity, topology_label);
            let at = *index.entry(key).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            if let Some((_, members)) = groups.get_mut(at) {
                members.push(node);
            }
        }
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut segments: Vec<Segment> = groups
            .iter_mut()
            .filter_map(|(location, members)| {
                build_segment(&format!("{}{}", location.0, location.1), members.as_mut_slice())
            })
            .collect();
        let peers = dedup_peers(peers, &mut diagnostics);

        // Discovered endpoints: segments in order, nodes by name, first one wins.
        let mut discovered: BTreeMap<&str, &Endpoint> = BTreeMap::new();
        for node in groups.iter().flat_map(|(_, members)| members) {
            for (key, endpoint) in &node.discovered_endpoints {
                discovered.entry(key.as_str()).or_insert(endpoint);
            }
        }
        let nat_endpoint = |key: &PublicKey, behind_nat: bool, own: Option<&Endpoint>| {
            if !behind_nat || discovered.is_empty() {
                return own.cloned();
            }
            discovered
                .get(key.to_string().as_str())
                .map(|e| (*e).clone())
                .or_else(|| own.cloned())
        };
        for segment in &mut segments {
            segment.endpoint =
                nat_endpoint(&segment.key, segment.leader_behind_nat, segment.endpoint.as_ref());
        }
        let peers: Vec<TopologyPeer> = peers
            .into_iter()
            .map(|mut p| {
                p.endpoint = nat_endpoint(&p.public_key, p.persistent_keepalive != 0, p.endpoint.as_ref());
                p
            })
            .collect();

        // WireGuard IPs by segment order.
        for (i, segment) in segments.iter_mut().enumerate() {
            match nth_address(&subnet, i as u128 + 1) {
                Some(ip) => {
                    segment.wireguard_ip = Some(ip);
                    segment.allowed_ips.push(Sourced {
                        net: one_address(ip),
                        origin: segment.leader_index,
                    });
                }
                None => diagnostics.push(Diagnostic::object(
                    ObjectRef::node(&segment.leader),
                    format!(
                        "the Kilo subnet {subnet} has no address left for segment {}",
                        segment.location
                    ),
                )),
            }
        }
        location_ips::filter(&mut segments, &peers, &mut diagnostics);
        Self {
            granularity,
            subnet,
            segments,
            peers,
            diagnostics,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
