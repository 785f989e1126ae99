//! Building the Plan: readiness, topology, the laptop's peers, address, service gateway, policy, DNS.

use ipnet::IpNet;
use std::collections::BTreeSet;

use super::PlanPolicy;
use super::address::choose_address;
use super::gateway;
use super::{
    ClusterSummary, Interface, PLAN_VERSION, PeerEntry, PeerKind, Plan, PlanRequest, ServiceGateway, Skipped,
};
use crate::check::{
    AddressError, AllowListError, DnsError, InterfaceNameError, cap_reports, check_address, check_allow_list,
    check_interface_name, check_zone,
};
use crate::cidr::one_address;
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::model::{Granularity, KiloPeer, Node};
use crate::policy::{filter_peers_allowing, refusal_reason_allowing, routes};
use crate::readiness;
use crate::snapshot::Snapshot;
use crate::topology::{DEFAULT_SUBNET, Topology};

/// When ranges of two peers overlap, the lower rank keeps them: the nodes' own ranges (pod CIDRs,
/// internal and WireGuard IPs), then the service CIDR, then allowed-location-ips, then Kilo Peers.
const RANK_NODE: u8 = 0;
const RANK_SERVICE: u8 = 1;
const RANK_LOCATION: u8 = 2;
const RANK_PEER: u8 = 3;

/// Why no Plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No node is ready: there is nothing to connect to.
    #[error("none of the {total} nodes is a ready Kilo node")]
    NoReadyNodes {
        /// Nodes in the snapshot.
        total: usize,
        /// Why each was left out.
        skipped: Vec<Skipped>,
    },
    /// The Kilo subnet has no free address for the laptop.
    #[error("no free address left in the Kilo subnet {0}; pass one with --address")]
    NoFreeAddress(IpNet),
    /// The laptop's address is refused (public, local, or outside the Kilo subnet).
    #[error("{error} ({origin}); refusing to connect: {fix}")]
    Address {
        /// What is wrong with it.
        error: AddressError,
        /// Where it came from.
        origin: String,
        /// What to do.
        fix: &'static str,
    },
    /// The interface name setting is refused.
    #[error("{0}")]
    InterfaceName(InterfaceNameError),
    /// The cluster zone is refused.
    #[error("{0}")]
    Dns(DnsError),
    /// An `--allow-public-range` entry is refused.
    #[error("{0}")]
    AllowList(AllowListError),
    /// A `--prefer-tunnel` entry is refused.
    #[error("{0}")]
    PreferTunnel(crate::prefer_tunnel::PreferTunnelError),
}

fn granularity(snapshot: &Snapshot, request: &PlanRequest, diagnostics: &mut Vec<Diagnostic>) -> Granularity {
    if let Some(fixed) = request.settings.granularity.fixed() {
        return fixed;
    }
    let mut found: Option<(Granularity, &str)> = None;
    for node in snapshot.nodes() {
        let Some(g) = node.granularity else { continue };
        match found {
            None => found = Some((g, &node.name)),
            Some((first, first_node)) if first != g => diagnostics.push(Diagnostic::field(
                ObjectRef::node(&node.name),
                "kilo.squat.ai/granularity",
                format!("disagrees with node {first_node}; using {first:?} (first node by name)"),
            )),
            Some(_) => {}
        }
    }
    found.map(|(g, _)| g).unwrap_or_else(|| {
        diagnostics.push(Diagnostic::object(
            ObjectRef::setting("granularity"),
            "no node has kilo.squat.ai/granularity; using location (Kilo's default)",
        ));
        Granularity::Location
    })
}

/// The Kilo subnet, and whether a node announced it (else Kilo's default is assumed).
fn subnet(snapshot: &Snapshot, diagnostics: &mut Vec<Diagnostic>) -> (IpNet, bool) {
    let mut found: Option<(IpNet, &str)> = None;
    for node in snapshot.nodes() {
        let Some(ip) = node.wireguard_ip else { continue };
        match found {
            None => found = Some((ip.trunc(), &node.name)),
            Some((first, first_node)) if first != ip.trunc() => diagnostics.push(Diagnostic::field(
                ObjectRef::node(&node.name),
                "kilo.squat.ai/wireguard-ip",
                format!("is in another subnet than node {first_node}'s; using {first}"),
            )),
            Some(_) => {}
        }
    }
    match found {
        Some((net, _)) => (net, true),
        None => (DEFAULT_SUBNET.parse().unwrap_or_default(), false),
    }
}

/// The laptop's address: given, else the single address of its own Peer, else chosen from its key.
fn address(
    request: &PlanRequest,
    own: Option<&KiloPeer>,
    topology: &Topology,
    known_subnet: Option<&IpNet>,
    taken: &[IpNet],
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<IpNet, PlanError> {
    let setting = ObjectRef::setting("address");
    let (origin, fix) = if request.address.is_some() {
        (
            "given with --address, or kept from the first plan of this connection".to_owned(),
            "pass a private-use address inside the Kilo subnet that no local network holds",
        )
    } else if let Some(p) = own.filter(|p| p.allowed_ips.iter().any(|n| n.prefix_len() == n.max_prefix_len()))
    {
        (
            format!("from spec.allowedIPs of the laptop's Kilo Peer {}", p.name),
            "ask the cluster's admin to check that Peer, or delete it so that kubewire registers it again",
        )
    } else {
        (
            format!("chosen in the Kilo subnet {}", topology.subnet),
            "the cluster announces this Kilo subnet in kilo.squat.ai/wireguard-ip; ask its admin to check it",
        )
    };
    let chosen = if let Some(given) = request.address {
        if given.prefix_len() != given.max_prefix_len() {
            diagnostics.push(Diagnostic::object(
                setting.clone(),
                format!("{given} is a range; using the single address {}", given.addr()),
            ));
        }
        one_address(given.addr())
    } else if let Some(ip) = own
        .and_then(|p| {
            p.allowed_ips
                .iter()
                .find(|n| n.prefix_len() == n.max_prefix_len())
        })
        .map(|n| n.addr())
    {
        one_address(ip)
    } else {
        let ip = choose_address(&topology.subnet, &request.public_key, taken)
            .ok_or(PlanError::NoFreeAddress(topology.subnet))?;
        one_address(ip)
    };
    check_address(&chosen, &request.local_networks, known_subnet).map_err(|error| PlanError::Address {
        error,
        origin: crate::check::caps::capped(&origin, 200),
        fix,
    })?;
    if let Some(t) = taken.iter().find(|t| t.contains(&chosen.addr())) {
        diagnostics.push(Diagnostic::object(
            setting,
            format!("{chosen} collides with {t}, which the cluster routes elsewhere"),
        ));
    }
    if let Some(own) = own
        && !own.allowed_ips.iter().any(|n| n.contains(&chosen.addr()))
    {
        diagnostics.push(Diagnostic::field(
            ObjectRef::peer(&own.name),
            "spec.allowedIPs",
            format!("does not contain the laptop address {chosen}; the cluster will not route it back"),
        ));
    }
    Ok(chosen)
}

/// Computes the laptop's Plan from a snapshot at time `now` (Unix seconds, preferably the API server's
/// clock). Pure: same inputs, same Plan, whatever the order the objects arrived in.
pub fn plan(snapshot: &Snapshot, request: &PlanRequest, now: i64) -> Result<Plan, PlanError> {
    let settings = &request.settings;
    let allowed = &settings.allowed_public_ranges;
    check_allow_list(allowed).map_err(PlanError::AllowList)?;
    crate::prefer_tunnel::check(&settings.prefer_tunnel, allowed).map_err(PlanError::PreferTunnel)?;
    // Inside a preferred range the tunnel wins over the laptop's networks.
    let local = crate::prefer_tunnel::carve_nets(&request.local_networks, &settings.prefer_tunnel);
    check_interface_name(&settings.interface_name).map_err(PlanError::InterfaceName)?;
    let zone = settings.dns_zone.trim_matches('.').to_owned();
    check_zone(&zone).map_err(PlanError::Dns)?;
    let mut diagnostics: Vec<Diagnostic> = snapshot.diagnostics().cloned().collect();
    let mut skipped: Vec<Skipped> = Vec::new();
    let granularity = granularity(snapshot, request, &mut diagnostics);
    let (subnet, subnet_known) = subnet(snapshot, &mut diagnostics);
    let known_subnet = subnet_known.then_some(subnet);

    let ready = ready_nodes(snapshot, now, &mut skipped);
    if ready.is_empty() {
        return Err(PlanError::NoReadyNodes {
            total: snapshot.node_count(),
            skipped,
        });
    }
    for name in snapshot.ignored_peers() {
        skipped.push(Skipped {
            object: ObjectRef::peer(name),
            reason: "Kilo ignores this Peer".into(),
        });
    }
    let peers: Vec<&KiloPeer> = snapshot.peers().collect();
    let mut topology = Topology::build(&ready, &peers, granularity, subnet, &settings.topology_label);
    diagnostics.extend(topology.diagnostics.iter().cloned());

    // The laptop's own Peer: by name or by key.
    let is_own = |name: &str, key| request.peer_name.as_deref() == Some(name) || key == request.public_key;
    let own = peers
        .iter()
        .copied()
        .find(|p| request.peer_name.as_deref() == Some(p.name.as_str()))
        .or_else(|| peers.iter().copied().find(|p| p.public_key == request.public_key));
    if let Some(name) = &request.peer_name {
        match peers.iter().find(|p| &p.name == name) {
            Some(p) if p.public_key != request.public_key => diagnostics.push(Diagnostic::field(
                ObjectRef::peer(name),
                "spec.publicKey",
                "is not the laptop's public key; the cluster will reject this laptop's handshakes",
            )),
            Some(_) => {}
            None => diagnostics.push(Diagnostic::object(
                ObjectRef::peer(name),
                "not in the snapshot yet; the cluster routes nothing to this laptop until it is registered",
            )),
        }
    }
    if let Some(own) = own {
        let said = match (own.has_preshared_key, request.preshared_key) {
            (true, false) => Some(
                "is set, but this laptop has no preshared key for this cluster: handshakes will fail \
                 (`kubewire enroll --print --psk` makes a Peer with the laptop's key for an admin to apply)",
            ),
            (false, true) => Some("is not set, but this laptop uses a preshared key: handshakes will fail"),
            _ => None,
        };
        if let Some(said) = said {
            diagnostics.push(Diagnostic::field(
                ObjectRef::peer(&own.name),
                "spec.presharedKey",
                said,
            ));
        }
    }

    let mut taken: Vec<IpNet> = topology
        .segments
        .iter()
        .filter_map(|s| s.wireguard_ip)
        .map(one_address)
        .collect();
    taken.extend(
        snapshot
            .nodes()
            .filter_map(|n| n.wireguard_ip)
            .map(|ip| one_address(ip.addr())),
    );
    taken.extend(
        topology
            .peers
            .iter()
            .filter(|p| !is_own(&p.name, p.public_key))
            .flat_map(|p| p.allowed_ips.clone()),
    );
    // Ranges the policy will refuse do not take addresses.
    taken.retain(|t| refusal_reason_allowing(t, &local, allowed).is_none());
    let address = address(
        request,
        own,
        &topology,
        known_subnet.as_ref(),
        &taken,
        &mut diagnostics,
    )?;

    // One entry per segment, then the service CIDR on the gateway.
    let mut entries: Vec<PeerEntry> = Vec::new();
    let mut ranks: Vec<Vec<u8>> = Vec::new();
    for s in &topology.segments {
        let ranges = s.allowed_ips.iter().chain(&s.location_ips);
        let mut rank = vec![RANK_NODE; s.allowed_ips.len()];
        rank.resize(s.allowed_ips.len() + s.location_ips.len(), RANK_LOCATION);
        ranks.push(rank);
        entries.push(PeerEntry {
            name: s.location.clone(),
            kind: PeerKind::Segment {
                location: s.location.clone(),
                leader: s.leader.clone(),
                nodes: Vec::new(), // moved in below, once nothing else needs them
                leader_behind_nat: s.leader_behind_nat,
                wireguard_ip: s.wireguard_ip,
            },
            public_key: s.key,
            endpoint: s.endpoint.clone(),
            allowed_ips: ranges.map(|r| r.net).collect(),
            persistent_keepalive: settings.persistent_keepalive,
        });
    }
    let mut gateway = None;
    if settings.service_cidrs.is_empty() {
        diagnostics.push(Diagnostic::object(
            ObjectRef::setting("service-cidr"),
            "not given; service IPs are not routed (k3s uses 10.43.0.0/16)",
        ));
    } else if let Some((i, rule)) = gateway::choose(
        &topology.segments,
        settings.service_gateway.as_deref(),
        &mut diagnostics,
    ) && let (Some(entry), Some(rank)) = (entries.get_mut(i), ranks.get_mut(i))
    {
        for cidr in &settings.service_cidrs {
            entry.allowed_ips.push(cidr.trunc());
            rank.push(RANK_SERVICE);
        }
        let leader = topology
            .segments
            .get(i)
            .map(|s| s.leader.clone())
            .unwrap_or_default();
        gateway = Some(ServiceGateway {
            peer: entry.name.clone(),
            leader,
            cidrs: Vec::new(),
            rule,
        });
    }

    // Other Kilo Peers that can be dialled.
    let segment_keys: BTreeSet<_> = topology.segments.iter().map(|s| s.key).collect();
    let mut dialled: Vec<&str> = Vec::new();
    for p in &topology.peers {
        if let Some(reason) = not_dialled(p, is_own(&p.name, p.public_key), &segment_keys) {
            skipped.push(Skipped {
                object: ObjectRef::peer(&p.name),
                reason,
            });
            continue;
        }
        ranks.push(vec![RANK_PEER; p.allowed_ips.len()]);
        dialled.push(&p.name);
        entries.push(PeerEntry {
            name: p.name.clone(),
            kind: PeerKind::KiloPeer,
            public_key: p.public_key,
            endpoint: p.endpoint.clone(),
            allowed_ips: p.allowed_ips.clone(),
            persistent_keepalive: settings.persistent_keepalive,
        });
    }

    // Who asked for range j of entry i: segment ranges name their node, then the service CIDR setting;
    // Peer ranges name the Peer.
    let segments = &topology.segments;
    let requested_by = |i: usize, j: usize| match segments.get(i) {
        Some(s) => Some(s.allowed_ips.iter().chain(&s.location_ips).nth(j).map_or_else(
            || ObjectRef::setting("service-cidr"),
            |r| ObjectRef::node(s.origin_name(r)),
        )),
        None => dialled.get(i - segments.len()).map(|name| ObjectRef::peer(*name)),
    };
    let refused = filter_peers_allowing(&mut entries, &local, allowed, &ranks, &requested_by);
    if let Some(g) = &mut gateway {
        let kept = entries
            .iter()
            .find(|e| e.name == g.peer)
            .map(|e| e.allowed_ips.as_slice())
            .unwrap_or(&[]);
        g.cidrs = settings
            .service_cidrs
            .iter()
            .map(IpNet::trunc)
            .filter(|c| kept.contains(c))
            .collect();
    }
    for (entry, segment) in entries.iter_mut().zip(&mut topology.segments) {
        if let PeerKind::Segment { nodes, .. } = &mut entry.kind {
            *nodes = std::mem::take(&mut segment.nodes);
        }
    }
    let routes = routes(&entries);

    let dns = super::dns::dns(snapshot, settings, zone, &routes, &mut diagnostics);

    diagnostics.sort();
    diagnostics.dedup();
    skipped.sort();
    let mut plan = Plan {
        version: PLAN_VERSION,
        interface: Interface {
            name: settings.interface_name.clone(),
            address,
            public_key: request.public_key,
            mtu: settings.mtu,
            listen_port: None,
        },
        peers: entries,
        routes,
        dns,
        service_gateway: gateway,
        cluster: ClusterSummary {
            granularity,
            subnet: topology.subnet,
            nodes: snapshot.node_count(),
            ready_nodes: ready.len(),
            now,
        },
        refused,
        skipped,
        diagnostics,
        policy: PlanPolicy {
            allowed_public_ranges: allowed.iter().map(IpNet::trunc).collect(),
            kilo_subnet: known_subnet,
            prefer_tunnel: settings.prefer_tunnel.iter().map(IpNet::trunc).collect(),
        },
    };
    cap_reports(&mut plan);
    Ok(plan)
}

/// The nodes ready at `now` (Kilo's `last-seen` rule); the others are reported as skipped.
fn ready_nodes<'a>(snapshot: &'a Snapshot, now: i64, skipped: &mut Vec<Skipped>) -> Vec<&'a Node> {
    let mut ready = Vec::new();
    for node in snapshot.nodes() {
        match readiness::check(node, now) {
            Ok(()) => ready.push(node),
            Err(why) => skipped.push(Skipped {
                object: ObjectRef::node(&node.name),
                reason: why.to_string(),
            }),
        }
    }
    ready
}

/// Why the laptop does not dial Kilo Peer `p` (its own, a leader's key, no endpoint), if it does not.
fn not_dialled(
    p: &crate::topology::TopologyPeer,
    own: bool,
    segment_keys: &BTreeSet<crate::PublicKey>,
) -> Option<String> {
    if own {
        Some(super::OWN_PEER.to_owned())
    } else if segment_keys.contains(&p.public_key) {
        Some("has the key of a segment leader".to_owned())
    } else if p.endpoint.is_none() {
        Some("no endpoint: it cannot be dialled".to_owned())
    } else {
        None
    }
}
