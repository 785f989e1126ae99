//! The safety policy: the cluster must never hijack the laptop. A range is refused (left out and
//! reported) when it is a default route or broader than /8 (IPv6 /16), loopback, link-local, multicast,
//! public (not private-use) without the user's `--allow-public-range`, overlaps one of the laptop's own
//! networks, contains a peer's endpoint, or overlaps a range an earlier peer already holds. The rest
//! of that peer's entry stays.
//!
//! The planner applies it, and the daemon re-applies it to every Plan it receives ([`check_received`]),
//! with the local networks it reads from the OS, together with the checks of [`crate::check`] (the
//! laptop's address, the DNS fields, the interface name).

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;

use crate::check::{
    AddressError, AllowListError, DnsError, InterfaceNameError, cap_reports, check_address, check_allow_list,
    check_dns, check_interface_name, permitted,
};
use crate::cidr::overlaps;
use crate::diagnostics::ObjectRef;
use crate::overlap::earlier_claims;
use crate::plan::{PLAN_VERSION, PeerEntry, Plan, Refusal, RefusalReason};

/// The broadest allowed prefix: /8 for IPv4, /16 for IPv6.
#[must_use]
pub fn broadest_prefix(net: &IpNet) -> u8 {
    if net.network().is_ipv4() { 8 } else { 16 }
}

/// Loopback, link-local and multicast ranges, parsed once.
static SPECIAL: LazyLock<[Vec<IpNet>; 3]> = LazyLock::new(|| {
    let parse = |list: &[&str]| {
        list.iter()
            .filter_map(|s| s.parse::<IpNet>().ok())
            .collect::<Vec<_>>()
    };
    [
        parse(&["127.0.0.0/8", "::1/128"]),
        parse(&["169.254.0.0/16", "fe80::/10"]),
        parse(&["224.0.0.0/4", "ff00::/8"]),
    ]
});

fn overlaps_any(net: &IpNet, list: &[IpNet]) -> bool {
    list.iter().any(|special| overlaps(net, special))
}

/// The peers' endpoint addresses, sorted, for "does this range contain one" in O(log n).
struct EndpointIndex(Vec<((bool, u128), usize)>);

fn key_of(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

impl EndpointIndex {
    fn new(peers: &[PeerEntry]) -> Self {
        let mut list: Vec<((bool, u128), usize)> = peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.endpoint.as_ref().and_then(|e| e.ip()).map(|ip| (key_of(ip), i)))
            .collect();
        list.sort_unstable();
        Self(list)
    }

    /// The lowest endpoint address inside `range` and the peer it belongs to.
    fn inside(&self, range: &IpNet) -> Option<(IpAddr, usize)> {
        let (lo, hi) = (key_of(range.network()), key_of(range.broadcast()));
        let at = self.0.partition_point(|(k, _)| *k < lo);
        let &(k, i) = self.0.get(at)?;
        if k > hi {
            return None;
        }
        let ip = if k.0 {
            IpAddr::V6(k.1.into())
        } else {
            IpAddr::V4(u32::try_from(k.1).ok()?.into())
        };
        Some((ip, i))
    }
}

/// Why `range` may not be routed into the tunnel, by the rules that need no other peer, when no public
/// range is allowed. See [`refusal_reason_allowing`].
#[must_use]
pub fn refusal_reason(range: &IpNet, local_networks: &[IpNet]) -> Option<RefusalReason> {
    refusal_reason_allowing(range, local_networks, &[])
}

/// Why `range` may not be routed into the tunnel, by the rules that need no other peer: too broad,
/// loopback, link-local, multicast (whatever the allow-list says), public and not inside
/// `allowed_public`, or overlapping an own network. Local networks broader than the broadest allowed
/// prefix (the laptop's default route) do not count as "own networks".
#[must_use]
pub fn refusal_reason_allowing(
    range: &IpNet,
    local_networks: &[IpNet],
    allowed_public: &[IpNet],
) -> Option<RefusalReason> {
    if range.prefix_len() < broadest_prefix(range) {
        return Some(RefusalReason::TooBroad);
    }
    let [loopback, link_local, multicast] = &*SPECIAL;
    if overlaps_any(range, loopback) {
        return Some(RefusalReason::Loopback);
    }
    if overlaps_any(range, link_local) {
        return Some(RefusalReason::LinkLocal);
    }
    if overlaps_any(range, multicast) {
        return Some(RefusalReason::Multicast);
    }
    if !permitted(range, allowed_public) {
        return Some(RefusalReason::PublicRange);
    }
    local_networks
        .iter()
        .filter(|local| local.prefix_len() >= broadest_prefix(local))
        .find(|local| overlaps(range, local))
        .map(|local| RefusalReason::OverlapsLocalNetwork {
            network: local.trunc(),
        })
}

/// Who asked for range `j` of peer entry `i` (called only for ranges that are refused).
pub type RequestedBy<'a> = &'a dyn Fn(usize, usize) -> Option<ObjectRef>;

/// [`filter_peers_allowing`] with no public range allowed.
pub fn filter_peers(
    peers: &mut [PeerEntry],
    local_networks: &[IpNet],
    ranks: &[Vec<u8>],
    requested_by: RequestedBy<'_>,
) -> Vec<Refusal> {
    filter_peers_allowing(peers, local_networks, &[], ranks, requested_by)
}

/// Filters the peers' AllowedIPs in place and returns what was refused. `ranks[i][j]` weighs range `j`
/// of peer `i` when ranges of two peers overlap: the lower rank keeps it, equal ranks go by plan order
/// (missing ranks count as 0). Public ranges pass only inside `allowed_public`.
pub fn filter_peers_allowing(
    peers: &mut [PeerEntry],
    local_networks: &[IpNet],
    allowed_public: &[IpNet],
    ranks: &[Vec<u8>],
    requested_by: RequestedBy<'_>,
) -> Vec<Refusal> {
    let endpoints = EndpointIndex::new(peers);
    let mut refused = Vec::new();
    // Rules about the range itself. Survivors: (rank, peer, original position, range).
    let mut flat: Vec<(u8, usize, usize, IpNet)> = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        for (j, range) in peer.allowed_ips.iter().enumerate() {
            let reason = refusal_reason_allowing(range, local_networks, allowed_public).or_else(|| {
                endpoints
                    .inside(range)
                    .map(|(address, owner)| RefusalReason::ContainsEndpoint {
                        endpoint_of: peers.get(owner).map(|p| p.name.clone()).unwrap_or_default(),
                        address,
                    })
            });
            match reason {
                Some(reason) => refused.push(Refusal {
                    range: *range,
                    peer: peer.name.clone(),
                    requested_by: requested_by(i, j),
                    reason,
                }),
                None => {
                    let rank = ranks.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
                    flat.push((rank, i, j, *range));
                }
            }
        }
    }
    // No address in two peers: the lower rank, then the earlier peer, keeps it.
    // Stable by rank (few distinct ranks: one pass each).
    let distinct: std::collections::BTreeSet<u8> = flat.iter().map(|f| f.0).collect();
    let mut order: Vec<usize> = Vec::with_capacity(flat.len());
    for rank in distinct {
        order.extend(
            flat.iter()
                .enumerate()
                .filter(|(_, f)| f.0 == rank)
                .map(|(k, _)| k),
        );
    }
    let ranges: Vec<IpNet> = order.iter().filter_map(|&k| flat.get(k).map(|f| f.3)).collect();
    let owners: Vec<usize> = order.iter().filter_map(|&k| flat.get(k).map(|f| f.1)).collect();
    let claims = earlier_claims(&ranges, &owners);
    let mut lost: Vec<Option<(usize, IpNet)>> = vec![None; flat.len()];
    for (pos, claim) in claims.iter().enumerate() {
        if let (Some(winner), Some(&k)) = (claim, order.get(pos))
            && let Some(slot) = lost.get_mut(k)
        {
            *slot = owners.get(*winner).copied().zip(ranges.get(*winner).copied());
        }
    }
    let names: Vec<String> = if lost.iter().any(Option::is_some) {
        peers.iter().map(|p| p.name.clone()).collect()
    } else {
        Vec::new()
    };
    for peer in peers.iter_mut() {
        peer.allowed_ips.clear();
    }
    for (&(_, i, j, net), loss) in flat.iter().zip(lost) {
        let Some(peer) = peers.get_mut(i) else { continue };
        match loss {
            None => peer.allowed_ips.push(net),
            Some((owner, held_range)) => refused.push(Refusal {
                range: net,
                peer: peer.name.clone(),
                requested_by: requested_by(i, j),
                reason: RefusalReason::ClaimedByEarlierPeer {
                    held_by: names.get(owner).cloned().unwrap_or_default(),
                    held_range,
                },
            }),
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
    /// The laptop's address is not acceptable.
    #[error("{0}")]
    Address(AddressError),
    /// The MTU is out of range.
    #[error("MTU {0} is outside 576..=9000")]
    Mtu(u16),
    /// Two peers share a key, or a peer has the laptop's key.
    #[error("public key {0} appears twice (or is the laptop's own)")]
    DuplicateKey(String),
    /// Two peers share a name.
    #[error("peer name {0:?} appears twice")]
    DuplicateName(String),
    /// The interface name is not acceptable.
    #[error("{0}")]
    InterfaceName(InterfaceNameError),
    /// The DNS fields are not acceptable.
    #[error("{0}")]
    Dns(DnsError),
    /// The allow-list of public ranges is not acceptable.
    #[error("{0}")]
    AllowList(AllowListError),
    /// A range the user prefers to the LAN is not one the policy could route.
    #[error("{0}")]
    PreferTunnel(crate::prefer_tunnel::PreferTunnelError),
    /// The policy refuses ranges the Plan does not already report as refused.
    #[error("{}", refusals_text(.0))]
    Refused(Vec<Refusal>),
}

fn refusals_text(refused: &[Refusal]) -> String {
    let shown: Vec<String> = refused.iter().take(5).map(ToString::to_string).collect();
    let more = refused.len().saturating_sub(shown.len());
    if more == 0 {
        shown.join("; ")
    } else {
        format!("{}; … and {more} more", shown.join("; "))
    }
}

/// The checks on a Plan's shape and fields that need no filtering: version, address, MTU, unique keys
/// and names, interface name, allow-list.
fn check_shape(plan: &Plan, local_networks: &[IpNet]) -> Result<(), PlanRejected> {
    if plan.version != PLAN_VERSION {
        return Err(PlanRejected::Version(plan.version));
    }
    check_interface_name(&plan.interface.name).map_err(PlanRejected::InterfaceName)?;
    check_allow_list(&plan.policy.allowed_public_ranges).map_err(PlanRejected::AllowList)?;
    crate::prefer_tunnel::check(&plan.policy.prefer_tunnel, &plan.policy.allowed_public_ranges)
        .map_err(PlanRejected::PreferTunnel)?;
    check_address(
        &plan.interface.address,
        local_networks,
        plan.policy.kilo_subnet.as_ref(),
    )
    .map_err(PlanRejected::Address)?;
    if let Some(mtu) = plan.interface.mtu
        && !crate::mtu::BOUNDS.contains(&mtu)
    {
        return Err(PlanRejected::Mtu(mtu));
    }
    let mut keys = std::collections::HashSet::from([plan.interface.public_key]);
    let mut names = std::collections::HashSet::new();
    for peer in &plan.peers {
        if !keys.insert(peer.public_key) {
            return Err(PlanRejected::DuplicateKey(peer.public_key.to_string()));
        }
        if !names.insert(peer.name.as_str()) {
            return Err(PlanRejected::DuplicateName(crate::check::caps::capped(
                &peer.name, 80,
            )));
        }
    }
    Ok(())
}

/// What the daemon runs on a Plan it receives: checks its shape, the laptop's address (against the
/// laptop's own networks, read from the OS), the interface name and the allow-list, re-applies the
/// safety policy, recomputes the routes from what is left, checks the DNS fields against them and caps
/// the reports. Refusals are appended to `plan.refused`.
pub fn enforce(plan: Plan, local_networks: &[IpNet]) -> Result<Plan, PlanRejected> {
    enforce_counting(plan, local_networks).map(|(plan, _)| plan)
}

/// [`enforce`], and the refusals it added.
fn enforce_counting(mut plan: Plan, local_networks: &[IpNet]) -> Result<(Plan, Vec<Refusal>), PlanRejected> {
    check_shape(&plan, local_networks)?;
    // Inside a range the user prefers, the tunnel wins over the laptop's networks.
    let local = crate::prefer_tunnel::carve_nets(local_networks, &plan.policy.prefer_tunnel);
    let refused = filter_peers_allowing(
        &mut plan.peers,
        &local,
        &plan.policy.allowed_public_ranges,
        &[],
        &|_, _| None,
    );
    plan.refused.extend(refused.iter().cloned());
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
    check_dns(&plan.dns.zone, &plan.dns.search, plan.dns.server, &plan.routes).map_err(PlanRejected::Dns)?;
    cap_reports(&mut plan);
    Ok((plan, refused))
}

/// The daemon's whole check of a received Plan: [`enforce`], and the Plan is refused as a whole when
/// the policy refuses any range the Plan does not already report as refused (a Plan made by the
/// planner has none: such a range means the Plan was not made by the rules, or this machine's
/// networks changed). Nothing is applied from a refused Plan.
pub fn check_received(plan: Plan, local_networks: &[IpNet]) -> Result<Plan, PlanRejected> {
    let (plan, refused) = enforce_counting(plan, local_networks)?;
    if refused.is_empty() {
        Ok(plan)
    } else {
        Err(PlanRejected::Refused(refused))
    }
}
