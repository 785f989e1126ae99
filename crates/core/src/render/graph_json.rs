//! The topology of [`super::dot`] as JSON (`kubewire graph --json`), for scripts and other
//! renderers: the same nodes and edges, named the same way.
//!
//! `{"subnet": "10.4.0.0/16", "nodes": [...], "edges": [...]}` where a node is
//! `{"id", "kind": "laptop"|"leader"|"member"|"peer", "segment", "location", "wireguard_ip",
//! "endpoint", "address"}` (absent fields are `null`) and an edge is `{"from", "to", "kind":
//! "tunnel"|"mesh"|"segment", "service_gateway": bool, "allowed_ips": [...]}`. The laptop's id is
//! `laptop`, a Kilo Peer's `peer:<name>`, a node's its name.

use serde::Serialize;

use crate::plan::{PeerKind, Plan};

/// The whole graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    /// The Kilo subnet.
    pub subnet: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What a node of the graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Laptop,
    /// A segment's leader: the laptop's WireGuard peer for that segment.
    Leader,
    /// A node behind its segment's leader.
    Member,
    /// Another Kilo Peer.
    Peer,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// The Plan's peer entry (segment) it belongs to.
    pub segment: Option<String>,
    pub location: Option<String>,
    pub wireguard_ip: Option<String>,
    pub endpoint: Option<String>,
    /// The laptop's tunnel address.
    pub address: Option<String>,
}

/// What an edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// The laptop's WireGuard tunnel to a leader or a Peer.
    Tunnel,
    /// Between leaders (Kilo's mesh).
    Mesh,
    /// A leader to a member of its segment.
    Segment,
}

/// One edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// This tunnel carries the service CIDRs.
    pub service_gateway: bool,
    /// What the laptop routes through this tunnel (tunnels only).
    pub allowed_ips: Vec<String>,
}

fn node(id: &str, kind: NodeKind) -> Node {
    Node {
        id: id.to_owned(),
        kind,
        segment: None,
        location: None,
        wireguard_ip: None,
        endpoint: None,
        address: None,
    }
}

fn edge(from: &str, to: &str, kind: EdgeKind) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
        service_gateway: false,
        allowed_ips: Vec::new(),
    }
}

/// The Plan's topology as a [`Graph`].
#[must_use]
pub fn graph(plan: &Plan) -> Graph {
    let mut nodes = vec![Node {
        address: Some(plan.interface.address.to_string()),
        ..node("laptop", NodeKind::Laptop)
    }];
    let mut edges = Vec::new();
    let mut leaders = Vec::new();
    let gateway = plan.service_gateway.as_ref().map(|g| g.peer.as_str());
    for peer in &plan.peers {
        let endpoint = peer.endpoint.as_ref().map(ToString::to_string);
        let tunnel_to = match &peer.kind {
            PeerKind::Segment {
                location,
                leader,
                nodes: members,
                wireguard_ip,
                ..
            } => {
                for name in members {
                    let is_leader = name == leader;
                    nodes.push(Node {
                        segment: Some(peer.name.clone()),
                        location: Some(location.clone()),
                        wireguard_ip: is_leader.then(|| wireguard_ip.map(|ip| ip.to_string())).flatten(),
                        endpoint: is_leader.then(|| endpoint.clone()).flatten(),
                        ..node(
                            name,
                            if is_leader {
                                NodeKind::Leader
                            } else {
                                NodeKind::Member
                            },
                        )
                    });
                    if !is_leader {
                        edges.push(edge(leader, name, EdgeKind::Segment));
                    }
                }
                leaders.push(leader.clone());
                leader.clone()
            }
            PeerKind::KiloPeer => {
                let id = format!("peer:{}", peer.name);
                nodes.push(Node {
                    segment: Some(peer.name.clone()),
                    endpoint,
                    ..node(&id, NodeKind::Peer)
                });
                id
            }
        };
        edges.push(Edge {
            service_gateway: gateway == Some(peer.name.as_str()),
            allowed_ips: peer.allowed_ips.iter().map(ToString::to_string).collect(),
            ..edge("laptop", &tunnel_to, EdgeKind::Tunnel)
        });
    }
    for (i, a) in leaders.iter().enumerate() {
        for b in leaders.iter().skip(i + 1) {
            edges.push(edge(a, b, EdgeKind::Mesh));
        }
    }
    Graph {
        subnet: plan.cluster.subnet.to_string(),
        nodes,
        edges,
    }
}

/// [`graph`] as pretty JSON (with a final newline).
pub fn render(plan: &Plan) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&graph(plan)).map(|mut s| {
        s.push('\n');
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PlanRequest, PublicKey, Snapshot};

    fn plan() -> Plan {
        let snapshot = Snapshot::parse(include_str!("../../tests/fixtures/seed-cluster.yaml")).unwrap();
        let key: PublicKey = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap();
        let mut request = PlanRequest::new(key);
        request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
        crate::plan(&snapshot, &request, 1_800_000_010).unwrap()
    }

    #[test]
    fn every_tunnel_of_the_plan_is_an_edge_and_one_carries_the_services() {
        let plan = plan();
        let g = graph(&plan);
        let tunnels: Vec<&Edge> = g.edges.iter().filter(|e| e.kind == EdgeKind::Tunnel).collect();
        assert_eq!(tunnels.len(), plan.peers.len());
        assert!(tunnels.iter().all(|e| e.from == "laptop"));
        let gateways: Vec<&&Edge> = tunnels.iter().filter(|e| e.service_gateway).collect();
        assert_eq!(gateways.len(), 1);
        assert!(gateways[0].allowed_ips.contains(&"10.43.0.0/16".to_owned()));
        // Every edge's ends are nodes of the graph.
        for e in &g.edges {
            for end in [&e.from, &e.to] {
                assert!(g.nodes.iter().any(|n| &n.id == end), "{end} is not a node");
            }
        }
        let leaders = g.nodes.iter().filter(|n| n.kind == NodeKind::Leader).count();
        let mesh = g.edges.iter().filter(|e| e.kind == EdgeKind::Mesh).count();
        assert_eq!(mesh, leaders * (leaders - 1) / 2, "leaders fully meshed");
        assert_eq!(
            g.nodes[0].address.as_deref(),
            Some(plan.interface.address.to_string().as_str())
        );
    }

    #[test]
    fn the_json_has_the_documented_keys() {
        let v: serde_json::Value = serde_json::from_str(&render(&plan()).unwrap()).unwrap();
        assert!(v["subnet"].is_string());
        let leader = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == "leader")
            .unwrap();
        for key in [
            "id",
            "kind",
            "segment",
            "location",
            "wireguard_ip",
            "endpoint",
            "address",
        ] {
            assert!(leader.get(key).is_some(), "{key} missing: {leader}");
        }
        let e = &v["edges"][0];
        for key in ["from", "to", "kind", "service_gateway", "allowed_ips"] {
            assert!(e.get(key).is_some(), "{key} missing: {e}");
        }
    }
}
