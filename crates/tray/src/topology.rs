//! The nodes table and the topology picture, from the Plan in force (segments, leaders, members, the
//! service gateway) and the daemon's per-peer statistics (handshake ages, traffic). Without a Plan
//! (a tunnel left up by an earlier run) the daemon's peers stand alone.

use kubewire_core::Plan;
use kubewire_core::plan::PeerKind;
use kubewire_ipc::{PeerHealth, PeerStatus};

use crate::types::{Health, NodeRow, Topology, TopologyLaptop, TopologySegment};

/// Health as the daemon judged it ([`kubewire_ipc::health`]); the tray does not judge again.
#[must_use]
pub fn health(stats: Option<&PeerStatus>) -> Health {
    match stats.map(PeerStatus::health) {
        None => Health::Unknown,
        Some(PeerHealth::Never | PeerHealth::InGrace) => Health::NoHandshake,
        Some(PeerHealth::Stale) => Health::Stale,
        Some(PeerHealth::Fresh) => Health::Healthy,
    }
}

fn stats<'a>(peers: &'a [PeerStatus], name: &str) -> Option<&'a PeerStatus> {
    peers.iter().find(|p| p.name == name)
}

fn location_name(location: &str) -> String {
    location
        .strip_prefix("location:")
        .or_else(|| location.strip_prefix("node:"))
        .unwrap_or(location)
        .to_owned()
}

/// Whether `gateway` (a leader or node name, or a peer entry name) names this segment.
fn is_gateway(plan: &Plan, peer_name: &str, leader: &str, gateway: Option<&str>) -> bool {
    match gateway {
        Some(g) => g == leader || g == peer_name,
        None => plan.service_gateway.as_ref().is_some_and(|g| g.peer == peer_name),
    }
}

/// One row per node (members and leaders) and per Kilo Peer.
#[must_use]
pub fn nodes(plan: Option<&Plan>, peers: &[PeerStatus], gateway: Option<&str>) -> Vec<NodeRow> {
    let Some(plan) = plan else {
        return peers
            .iter()
            .map(|p| NodeRow {
                name: p.name.clone(),
                location: location_name(&p.name),
                segment: p.name.clone(),
                leader: true,
                gateway: gateway == Some(p.name.as_str()),
                endpoint: p.endpoint.clone(),
                handshake_age_secs: p.last_handshake_secs,
                rx_bytes: p.rx_bytes,
                tx_bytes: p.tx_bytes,
                health: health(Some(p)),
                allowed_ips: p.allowed_ips.iter().map(ToString::to_string).collect(),
            })
            .collect();
    };
    let mut rows = Vec::new();
    for entry in &plan.peers {
        let st = stats(peers, &entry.name);
        let endpoint = st
            .and_then(|s| s.endpoint.clone())
            .or_else(|| entry.endpoint.as_ref().map(ToString::to_string));
        let allowed: Vec<String> = entry.allowed_ips.iter().map(ToString::to_string).collect();
        let row = |name: &str, location: String, leader: bool, gw: bool| NodeRow {
            name: name.to_owned(),
            location,
            segment: entry.name.clone(),
            leader,
            gateway: gw,
            endpoint: if leader { endpoint.clone() } else { None },
            handshake_age_secs: st.and_then(|s| s.last_handshake_secs),
            rx_bytes: st.map_or(0, |s| s.rx_bytes),
            tx_bytes: st.map_or(0, |s| s.tx_bytes),
            health: health(st),
            allowed_ips: if leader { allowed.clone() } else { Vec::new() },
        };
        match &entry.kind {
            PeerKind::Segment {
                location,
                leader,
                nodes,
                ..
            } => {
                let gw = is_gateway(plan, &entry.name, leader, gateway);
                for node in nodes {
                    let is_leader = node == leader;
                    rows.push(row(node, location_name(location), is_leader, gw && is_leader));
                }
            }
            PeerKind::KiloPeer => rows.push(row(&entry.name, "Kilo Peer".into(), true, false)),
        }
    }
    rows
}

/// The picture: the laptop and one group per segment.
#[must_use]
pub fn topology(
    plan: Option<&Plan>,
    peers: &[PeerStatus],
    laptop: Option<String>,
    gateway: Option<&str>,
) -> Topology {
    let segments = match plan {
        Some(plan) => plan
            .peers
            .iter()
            .map(|entry| {
                let st = stats(peers, &entry.name);
                let endpoint = st
                    .and_then(|s| s.endpoint.clone())
                    .or_else(|| entry.endpoint.as_ref().map(ToString::to_string));
                match &entry.kind {
                    PeerKind::Segment {
                        location,
                        leader,
                        nodes,
                        ..
                    } => TopologySegment {
                        name: entry.name.clone(),
                        location: location_name(location),
                        leader: leader.clone(),
                        members: nodes.iter().filter(|n| *n != leader).cloned().collect(),
                        gateway: is_gateway(plan, &entry.name, leader, gateway),
                        health: health(st),
                        endpoint,
                    },
                    PeerKind::KiloPeer => TopologySegment {
                        name: entry.name.clone(),
                        location: "Kilo Peer".into(),
                        leader: entry.name.clone(),
                        members: Vec::new(),
                        gateway: false,
                        health: health(st),
                        endpoint,
                    },
                }
            })
            .collect(),
        None => peers
            .iter()
            .map(|p| TopologySegment {
                name: p.name.clone(),
                location: location_name(&p.name),
                leader: p.name.clone(),
                members: Vec::new(),
                gateway: gateway == Some(p.name.as_str()),
                health: health(Some(p)),
                endpoint: p.endpoint.clone(),
            })
            .collect(),
    };
    Topology {
        laptop: TopologyLaptop { address: laptop },
        segments,
    }
}
