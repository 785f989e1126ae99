//! The safety policy: the cluster must never hijack the laptop. A range is refused (left out and
//! reported) when it is a default route or broader than /8 (IPv6 /16), loopback, link-local, multicast,
//! overlaps one of the laptop's own networks, contains a peer's endpoint, or overlaps a range an earlier
//! peer already holds. The rest of that peer's entry stays.
//!
//! The planner applies it, and the daemon re-applies it to every Plan it receives ([`enforce`]), with
//! the local networks it reads from the OS.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::cidr::overlaps;
use crate::diagnostics::ObjectRef;
use crate::overlap::earlier_claims;
use crate::plan::{PLAN_VERSION, PeerEntry, Plan, Refusal, RefusalReason};

/// The broadest allowed prefix: /8 for IPv4, /16 for IPv6.
#[must_use]
pub fn broadest_prefix(net: &IpNet) -> u8 {
    if net.network().is_ipv4() { 8 } else { 16 }
}

const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];
const LINK_LOCAL: [&str; 2] = ["169.254.0.0/16", "fe80::/10"];
const MULTICAST: [&str; 2] = ["224.0.0.0/4", "ff00::/8"];

fn overlaps_any(net: &IpNet, list: &[&str]) -> bool {
    list.iter()
        .filter_map(|s| s.parse::<IpNet>().ok())
        .any(|special| overlaps(net, &special))
}

/// Why `range` may not be routed into the tunnel, by the rules that need no other peer. Local networks
/// broader than the broadest allowed prefix (the laptop's default route) do not count as "own networks".
#[must_use]
pub fn refusal_reason(range: &IpNet, local_networks: &[IpNet]) -> Option<RefusalReason> {
    if range.prefix_len() < broadest_prefix(range) {
        return Some(RefusalReason::TooBroad);
    }
    if overlaps_any(range, &LOOPBACK) {
        return Some(RefusalReason::Loopback);
    }
    if overlaps_any(range, &LINK_LOCAL) {
        return Some(RefusalReason::LinkLocal);
    }
    if overlaps_any(range, &MULTICAST) {
        return Some(RefusalReason::Multicast);
    }
    local_networks
        .iter()
        .filter(|local| local.prefix_len() >= broadest_prefix(local))
        .find(|local| overlaps(range, local))
        .map(|local| RefusalReason::OverlapsLocalNetwork {
            network: local.trunc(),
        })
}

/// Who asked for one range of a peer entry, and how much it weighs when ranges of two peers overlap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeOrigin {
    /// The node, Peer or setting that asked for it.
    pub requested_by: Option<ObjectRef>,
    /// Lower ranks win overlaps; equal ranks go by plan order.
    pub rank: u8,
}

/// Filters the peers' AllowedIPs in place and returns what was refused. `origins[i][j]` describes
/// range `j` of peer `i` (missing entries: unknown origin, rank 0, so plan order decides).
pub fn filter_peers(
    peers: &mut [PeerEntry],
    local_networks: &[IpNet],
    origins: &[Vec<RangeOrigin>],
) -> Vec<Refusal> {
    let endpoints: Vec<(String, IpAddr)> = peers
        .iter()
        .filter_map(|p| {
            p.endpoint
                .as_ref()
                .and_then(|e| e.ip())
                .map(|ip| (p.name.clone(), ip))
        })
        .collect();
    let origin = |i: usize, j: usize| origins.get(i).and_then(|r| r.get(j)).cloned().unwrap_or_default();
    let mut refused = Vec::new();
    // Rules about the range itself.
    let mut kept: Vec<Vec<(IpNet, RangeOrigin)>> = Vec::with_capacity(peers.len());
    for (i, peer) in peers.iter().enumerate() {
        let mut list = Vec::with_capacity(peer.allowed_ips.len());
        for (j, range) in peer.allowed_ips.iter().enumerate() {
            let reason = refusal_reason(range, local_networks).or_else(|| {
                endpoints
                    .iter()
                    .find(|(_, ip)| range.contains(ip))
                    .map(|(name, ip)| RefusalReason::ContainsEndpoint {
                        endpoint_of: name.clone(),
                        address: *ip,
                    })
            });
            match reason {
                Some(reason) => refused.push(Refusal {
                    range: *range,
                    peer: peer.name.clone(),
                    requested_by: origin(i, j).requested_by,
                    reason,
                }),
                None => list.push((*range, origin(i, j))),
            }
        }
        kept.push(list);
    }
    // No address in two peers: the lower rank, then the earlier peer, keeps it.
    let flat: Vec<(u8, usize, IpNet)> = kept
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |(net, o)| (o.rank, i, *net)))
        .collect();
    let mut order: Vec<usize> = (0..flat.len()).collect();
    order.sort_by_key(|&k| flat.get(k).map(|f| f.0));
    let ranges: Vec<IpNet> = order.iter().filter_map(|&k| flat.get(k).map(|f| f.2)).collect();
    let owners: Vec<usize> = order.iter().filter_map(|&k| flat.get(k).map(|f| f.1)).collect();
    let claims = earlier_claims(&ranges, &owners);
    // claim_of[flat index] = the winning (peer, range) it lost to.
    let mut claim_of: Vec<Option<(usize, IpNet)>> = vec![None; flat.len()];
    for (pos, claim) in claims.iter().enumerate() {
        if let (Some(winner), Some(&k)) = (claim, order.get(pos)) {
            claim_of[k] = owners.get(*winner).copied().zip(ranges.get(*winner).copied());
        }
    }
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    let mut k = 0;
    for (peer, list) in peers.iter_mut().zip(kept) {
        peer.allowed_ips.clear();
        for (net, o) in list {
            match claim_of.get(k).copied().flatten() {
                Some((owner, range)) => refused.push(Refusal {
                    range: net,
                    peer: peer.name.clone(),
                    requested_by: o.requested_by,
                    reason: RefusalReason::ClaimedByEarlierPeer {
                        held_by: names.get(owner).cloned().unwrap_or_default(),
                        held_range: range,
                    },
                }),
                None => peer.allowed_ips.push(net),
            }
            k += 1;
        }
    }
    refused
}

/// The routes of a set of peers: exactly the union of their AllowedIPs, in peer order.
#[must_use]
pub fn routes(peers: &[PeerEntry]) -> Vec<IpNet> {
    peers.iter().flat_map(|p| p.allowed_ips.iter().copied()).collect()
}

/// Why a received Plan is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRejected {
    /// Another Plan version.
    #[error("plan version {0} is not supported (this build reads version {PLAN_VERSION})")]
    Version(u32),
    /// The interface address is not a single address.
    #[error("interface address {0} is not a single address (/32 or /128)")]
    Address(IpNet),
    /// The MTU is out of range.
    #[error("MTU {0} is outside 576..=9000")]
    Mtu(u16),
    /// Two peers share a key, or a peer has the laptop's key.
    #[error("public key {0} appears twice (or is the laptop's own)")]
    DuplicateKey(String),
    /// Two peers share a name.
    #[error("peer name {0:?} appears twice")]
    DuplicateName(String),
}

/// What the daemon runs on a Plan it receives: checks its shape, re-applies the safety policy with the
/// laptop's own networks (read from the OS), and recomputes the routes from what is left. Refusals are
/// appended to `plan.refused`.
pub fn enforce(mut plan: Plan, local_networks: &[IpNet]) -> Result<Plan, PlanRejected> {
    if plan.version != PLAN_VERSION {
        return Err(PlanRejected::Version(plan.version));
    }
    let address = plan.interface.address;
    if address.prefix_len() != address.max_prefix_len() {
        return Err(PlanRejected::Address(address));
    }
    if !(576..=9000).contains(&plan.interface.mtu) {
        return Err(PlanRejected::Mtu(plan.interface.mtu));
    }
    let mut keys = std::collections::HashSet::from([plan.interface.public_key]);
    let mut names = std::collections::HashSet::new();
    for peer in &plan.peers {
        if !keys.insert(peer.public_key) {
            return Err(PlanRejected::DuplicateKey(peer.public_key.to_string()));
        }
        if !names.insert(peer.name.as_str()) {
            return Err(PlanRejected::DuplicateName(peer.name.clone()));
        }
    }
    let refused = filter_peers(&mut plan.peers, local_networks, &[]);
    plan.refused.extend(refused);
    plan.routes = routes(&plan.peers);
    if let Some(gateway) = &mut plan.service_gateway {
        let kept: Vec<IpNet> = plan
            .peers
            .iter()
            .filter(|p| p.name == gateway.peer)
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();
        gateway.cidrs.retain(|c| kept.contains(c));
    }
    Ok(plan)
}
