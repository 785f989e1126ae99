//! What Kilo would configure on each lab node: segments, leaders, WireGuard peers and routes.
//!
//! This is the lab's own, deliberately small rendition of Kilo's topology (pkg/mesh/topology.go),
//! written independently of `kubewire-core` so that a bug in one is caught by the other.
//! Pure: the caller applies the result (see `net::apply`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};

use crate::model::{Granularity, KILO_SUBNET, Node};

/// A Kilo Peer resource as the lab's Kilo stand-in accepted it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KiloPeer {
    pub name: String,
    pub public_key: String,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: u16,
    /// `spec.presharedKey` (base64), which every node uses with this Peer, as Kilo does.
    pub preshared_key: Option<String>,
}

/// One Kilo segment: a location (or a single node with granularity `full`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Kilo's sort key: `location:<loc>` or `node:<name>`.
    pub key: String,
    /// Member node names, sorted.
    pub nodes: Vec<String>,
    pub leader: String,
    pub wireguard_ip: Ipv4Addr,
    pub allowed_ips: Vec<IpNet>,
}

/// A WireGuard peer on a node's `kwg-<node>` interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WgPeer {
    pub public_key: String,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    pub persistent_keepalive: u16,
    pub preshared_key: Option<String>,
}

/// A route the lab owns on a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// Into the node's WireGuard interface.
    Wireguard(IpNet),
    /// Via a node of the same location LAN.
    Via(IpNet, Ipv4Addr),
}

/// Everything the lab configures on one node for the mesh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// The Kilo WireGuard address (leaders only), with the subnet's mask.
    pub wireguard_ip: Option<Ipv4Net>,
    pub peers: Vec<WgPeer>,
    pub routes: BTreeSet<Route>,
}

/// Kilo's segments of the ready nodes, in Kilo's order (sorted by key), with WireGuard IPs.
pub fn segments(nodes: &[Node], granularity: Granularity) -> Vec<Segment> {
    let mut groups: BTreeMap<String, Vec<&Node>> = BTreeMap::new();
    for node in nodes.iter().filter(|n| n.fresh) {
        let key = match granularity {
            Granularity::Location => format!("location:{}", node.location),
            Granularity::Full => format!("node:{}", node.name),
        };
        groups.entry(key).or_default().push(node);
    }
    let hosts = KILO_SUBNET.hosts();
    groups
        .into_iter()
        .zip(hosts)
        .map(|((key, mut members), wireguard_ip)| {
            members.sort_by(|a, b| a.name.cmp(&b.name));
            // Every lab node has a public (non-RFC 1918) underlay address, so Kilo's election reduces
            // to: the first annotated leader, else the first node by name.
            let leader = members
                .iter()
                .find(|n| n.leader_annotation)
                .unwrap_or(&members[0]);
            let mut allowed_ips: Vec<IpNet> = Vec::new();
            for n in &members {
                allowed_ips.push(n.pod_cidr().into());
                allowed_ips.push(Ipv4Net::new_assert(n.internal_ip(), 32).into());
            }
            allowed_ips.push(Ipv4Net::new_assert(wireguard_ip, 32).into());
            Segment {
                key,
                nodes: members.iter().map(|n| n.name.clone()).collect(),
                leader: leader.name.clone(),
                wireguard_ip,
                allowed_ips,
            }
        })
        .collect()
}

/// The mesh configuration of every node (stale nodes get an empty one: they left the mesh).
pub fn node_configs(
    nodes: &[Node],
    granularity: Granularity,
    peers: &[KiloPeer],
) -> BTreeMap<String, NodeConfig> {
    let segs = segments(nodes, granularity);
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out: BTreeMap<String, NodeConfig> = nodes
        .iter()
        .map(|n| (n.name.clone(), NodeConfig::default()))
        .collect();
    for seg in &segs {
        let Some(leader) = by_name.get(seg.leader.as_str()) else {
            continue;
        };
        let mut remote: Vec<WgPeer> = segs
            .iter()
            .filter(|other| other.key != seg.key)
            .filter_map(|other| {
                let l = by_name.get(other.leader.as_str())?;
                Some(WgPeer {
                    public_key: l.public_key.clone(),
                    endpoint: Some(l.endpoint()),
                    allowed_ips: other.allowed_ips.clone(),
                    persistent_keepalive: 0,
                    preshared_key: None,
                })
            })
            .collect();
        remote.extend(peers.iter().map(|p| WgPeer {
            public_key: p.public_key.clone(),
            endpoint: p.endpoint,
            allowed_ips: p.allowed_ips.clone(),
            persistent_keepalive: p.persistent_keepalive,
            preshared_key: p.preshared_key.clone(),
        }));
        let remote_ranges: Vec<IpNet> = remote
            .iter()
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();

        let mut leader_routes: BTreeSet<Route> = remote_ranges.iter().map(|r| Route::Wireguard(*r)).collect();
        for member in seg.nodes.iter().filter(|m| **m != seg.leader) {
            if let Some(m) = by_name.get(member.as_str()) {
                leader_routes.insert(Route::Via(m.pod_cidr().into(), m.internal_ip()));
            }
        }
        out.insert(
            seg.leader.clone(),
            NodeConfig {
                wireguard_ip: Some(Ipv4Net::new_assert(seg.wireguard_ip, KILO_SUBNET.prefix_len())),
                peers: remote,
                routes: leader_routes,
            },
        );

        // Members reach everything beyond their location through their leader.
        let mut member_routes: BTreeSet<Route> = remote_ranges
            .iter()
            .map(|r| Route::Via(*r, leader.internal_ip()))
            .collect();
        member_routes.insert(Route::Via(KILO_SUBNET.into(), leader.internal_ip()));
        for member in seg.nodes.iter().filter(|m| **m != seg.leader) {
            let mut routes = member_routes.clone();
            for other in seg.nodes.iter().filter(|o| *o != member && **o != seg.leader) {
                if let Some(o) = by_name.get(other.as_str()) {
                    routes.insert(Route::Via(o.pod_cidr().into(), o.internal_ip()));
                }
            }
            routes.insert(Route::Via(leader.pod_cidr().into(), leader.internal_ip()));
            out.insert(
                member.clone(),
                NodeConfig {
                    wireguard_ip: None,
                    peers: Vec::new(),
                    routes,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, LabSpec};

    fn cluster(n: u8, g: Granularity) -> Cluster {
        let spec = LabSpec {
            nodes_per_location: n,
            granularity: g,
            ..LabSpec::default()
        };
        let mut i = 0;
        Cluster::new(&spec, || {
            i += 1;
            (format!("k{i}"), format!("pub{i}"))
        })
        .unwrap()
    }

    #[test]
    fn seed_segments_match_kilo_order_and_addresses() {
        let c = cluster(1, Granularity::Location);
        let segs = segments(&c.nodes, c.granularity);
        let got: Vec<_> = segs
            .iter()
            .map(|s| (s.leader.as_str(), s.wireguard_ip.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("aliyun", "10.4.0.1".into()),
                ("aws", "10.4.0.2".into()),
                ("azure", "10.4.0.3".into()),
                ("gcp", "10.4.0.4".into())
            ]
        );
        let aws: Vec<String> = segs[1].allowed_ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(aws, ["10.42.0.0/24", "192.168.10.11/32", "10.4.0.2/32"]);
    }

    #[test]
    fn leaders_mesh_and_members_route_through_them() {
        let c = cluster(2, Granularity::Location);
        let cfg = node_configs(&c.nodes, c.granularity, &[]);
        let aws = &cfg["aws"];
        assert_eq!(aws.peers.len(), 3);
        assert!(aws.wireguard_ip.is_some());
        let member = &cfg["aws-2"];
        assert!(member.peers.is_empty() && member.wireguard_ip.is_none());
        let gcp_pods: IpNet = c.node("gcp").unwrap().pod_cidr().into();
        let aws_lan_ip = c.node("aws").unwrap().internal_ip();
        assert!(member.routes.contains(&Route::Via(gcp_pods, aws_lan_ip)));
        let member_pods: IpNet = c.node("aws-2").unwrap().pod_cidr().into();
        assert!(
            aws.routes
                .contains(&Route::Via(member_pods, c.node("aws-2").unwrap().internal_ip()))
        );
    }

    #[test]
    fn full_granularity_makes_every_node_a_leader() {
        let c = cluster(2, Granularity::Full);
        let cfg = node_configs(&c.nodes, c.granularity, &[]);
        assert!(
            cfg.values()
                .all(|n| n.wireguard_ip.is_some() && n.peers.len() == 7)
        );
    }

    #[test]
    fn stale_nodes_leave_the_mesh_and_annotated_leaders_win() {
        let mut c = cluster(2, Granularity::Location);
        c.node_mut("gcp").unwrap().fresh = false;
        c.node_mut("gcp-2").unwrap().fresh = false;
        c.node_mut("aws-2").unwrap().leader_annotation = true;
        let cfg = node_configs(&c.nodes, c.granularity, &[]);
        assert_eq!(cfg["gcp"], NodeConfig::default());
        assert!(cfg["aws-2"].wireguard_ip.is_some());
        assert_eq!(cfg["aws-2"].peers.len(), 2);
        assert!(cfg["aws"].wireguard_ip.is_none());
    }

    #[test]
    fn kilo_peers_go_to_every_leader() {
        let c = cluster(2, Granularity::Location);
        let peer = KiloPeer {
            name: "laptop".into(),
            public_key: "lap".into(),
            allowed_ips: vec!["10.4.255.5/32".parse().unwrap()],
            endpoint: None,
            persistent_keepalive: 25,
            preshared_key: Some("psk".into()),
        };
        let cfg = node_configs(&c.nodes, c.granularity, &[peer]);
        for leader in ["aliyun", "aws", "azure", "gcp"] {
            assert!(
                cfg[leader]
                    .peers
                    .iter()
                    .any(|p| p.public_key == "lap" && p.preshared_key.as_deref() == Some("psk"))
            );
        }
        let via = c.node("aws").unwrap().internal_ip();
        assert!(
            cfg["aws-2"]
                .routes
                .contains(&Route::Via("10.4.255.5/32".parse().unwrap(), via))
        );
    }
}
