//! Unit tests: Kilo's topology rules (leaders, NAT, location IPs, WireGuard IPs, granularity, order).

use super::*;
use crate::annotations::parse_node;
use crate::readiness;
use crate::source::NodeSource;

fn key(n: u8) -> String {
    PublicKey::from_bytes([n; 32]).to_string()
}

/// A ready node: `spec` is `name:location:endpoint:internal-ip`, extra annotations after.
fn node(name: &str, n: u8, location: &str, endpoint: &str, internal: &str, extra: &[(&str, &str)]) -> Node {
    let mut annotations: BTreeMap<String, String> = [
        ("kilo.squat.ai/key", key(n)),
        ("kilo.squat.ai/endpoint", endpoint.to_owned()),
        ("kilo.squat.ai/location", location.to_owned()),
        ("kilo.squat.ai/last-seen", "1000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if !internal.is_empty() {
        annotations.insert("kilo.squat.ai/internal-ip".into(), internal.into());
    }
    for (k, v) in extra {
        annotations.insert(format!("kilo.squat.ai/{k}"), (*v).to_owned());
    }
    let source = NodeSource {
        name: name.into(),
        labels: BTreeMap::new(),
        annotations,
        pod_cidrs: vec![format!("10.42.{n}.0/24")],
    };
    let (node, diagnostics) = parse_node(&source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(readiness::check(&node, 1010), Ok(()));
    node
}

fn build(nodes: &[Node], granularity: Granularity) -> Topology {
    build_with_peers(nodes, &[], granularity)
}

fn build_with_peers(nodes: &[Node], peers: &[KiloPeer], granularity: Granularity) -> Topology {
    let refs: Vec<&Node> = nodes.iter().collect();
    let peer_refs: Vec<&KiloPeer> = peers.iter().collect();
    Topology::build(
        &refs,
        &peer_refs,
        granularity,
        DEFAULT_SUBNET.parse().unwrap(),
        "topology.kubernetes.io/region",
    )
}

fn nets(segment: &Segment) -> Vec<String> {
    segment
        .allowed_ips
        .iter()
        .chain(&segment.location_ips)
        .map(|s| s.net.to_string())
        .collect()
}

#[test]
fn leader_prefers_annotated_leader_with_public_ip() {
    let nodes = [
        node("a", 1, "x", "10.0.0.1:51820", "10.1.0.1/16", &[("leader", "")]),
        node("b", 2, "x", "198.51.100.2:51820", "10.1.0.2/16", &[]),
        node(
            "c",
            3,
            "x",
            "198.51.100.3:51820",
            "10.1.0.3/16",
            &[("leader", "")],
        ),
    ];
    assert_eq!(build(&nodes, Granularity::Location).segments[0].leader, "c");
}

#[test]
fn leader_then_any_annotated_then_public_then_first() {
    let annotated_private = [
        node("a", 1, "x", "198.51.100.1:51820", "10.1.0.1/16", &[]),
        node(
            "b",
            2,
            "x",
            "10.0.0.2:51820",
            "10.1.0.2/16",
            &[("leader", "false")],
        ),
    ];
    assert_eq!(
        build(&annotated_private, Granularity::Location).segments[0].leader,
        "b"
    );
    let public = [
        node("a", 1, "x", "10.0.0.1:51820", "10.1.0.1/16", &[]),
        node("b", 2, "x", "dns.example.com:51820", "10.1.0.2/16", &[]),
        node("c", 3, "x", "198.51.100.3:51820", "10.1.0.3/16", &[]),
    ];
    assert_eq!(build(&public, Granularity::Location).segments[0].leader, "c");
    let none = [
        node("b", 2, "x", "10.0.0.2:51820", "10.1.0.2/16", &[]),
        node("a", 1, "x", "dns.example.com:51820", "10.1.0.1/16", &[]),
    ];
    assert_eq!(build(&none, Granularity::Location).segments[0].leader, "a");
}

#[test]
fn allowed_ips_in_kilo_order_and_wireguard_ips_by_sorted_location() {
    let nodes = [
        node("z", 3, "b", "198.51.100.3:51820", "192.168.2.3/24", &[]),
        node("y", 2, "b", "198.51.100.2:51820", "192.168.2.2/24", &[]),
        node("x", 1, "a", "198.51.100.1:51820", "192.168.1.1/24", &[]),
    ];
    let t = build(&nodes, Granularity::Location);
    let locations: Vec<&str> = t.segments.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(locations, ["location:a", "location:b"]);
    assert_eq!(
        nets(&t.segments[0]),
        ["10.42.1.0/24", "192.168.1.1/32", "10.4.0.1/32"]
    );
    assert_eq!(
        nets(&t.segments[1]),
        [
            "10.42.2.0/24",
            "192.168.2.2/32",
            "10.42.3.0/24",
            "192.168.2.3/32",
            "10.4.0.2/32"
        ]
    );
    assert_eq!(t.segments[1].nodes, ["y", "z"]);
}

#[test]
fn granularity_full_and_nodes_without_internal_ip() {
    let nodes = [
        node("a", 1, "x", "198.51.100.1:51820", "10.1.0.1/16", &[]),
        node("b", 2, "x", "198.51.100.2:51820", "10.1.0.2/16", &[]),
        node("c", 3, "x", "198.51.100.3:51820", "", &[]),
        node(
            "d",
            4,
            "x",
            "198.51.100.4:51820",
            "10.1.0.4/16",
            &[("force-internal-ip", "-")],
        ),
    ];
    let location = build(&nodes, Granularity::Location);
    let keys: Vec<&str> = location.segments.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(keys, ["location:x", "node:c", "node:d"]);
    let full = build(&nodes, Granularity::Full);
    let keys: Vec<&str> = full.segments.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(keys, ["node:a", "node:b", "node:c", "node:d"]);
    assert_eq!(full.segments[3].wireguard_ip, Some("10.4.0.4".parse().unwrap()));
}

#[test]
fn nat_leader_uses_discovered_endpoint() {
    let nat_key = key(2);
    let seen = format!(r#"{{"{nat_key}":{{"IP":"203.0.113.9","Port":41000,"Zone":""}}}}"#);
    let later = format!(r#"{{"{nat_key}":{{"IP":"203.0.113.200","Port":1,"Zone":""}}}}"#);
    let nodes = [
        node(
            "a",
            1,
            "a",
            "198.51.100.1:51820",
            "10.1.0.1/16",
            &[("discovered-endpoints", &seen)],
        ),
        node(
            "b",
            2,
            "b",
            "10.9.0.2:51820",
            "10.2.0.2/16",
            &[("persistent-keepalive", "10")],
        ),
        node(
            "c",
            3,
            "c",
            "198.51.100.3:51820",
            "10.3.0.3/16",
            &[("discovered-endpoints", &later)],
        ),
    ];
    let t = build(&nodes, Granularity::Location);
    assert!(t.segments[1].leader_behind_nat);
    assert_eq!(
        t.segments[1].endpoint.as_ref().unwrap().to_string(),
        "203.0.113.9:41000"
    );
    // Keepalive 0: the discovered endpoint is ignored.
    let mut not_nat = nodes.clone();
    not_nat[1].persistent_keepalive = 0;
    let t = build(&not_nat, Granularity::Location);
    assert_eq!(
        t.segments[1].endpoint.as_ref().unwrap().to_string(),
        "10.9.0.2:51820"
    );
}

#[test]
fn location_ips_filtered_as_the_notes_say() {
    let nodes = [
        // Kept: contains the node's own internal IP, but is not inside any AllowedIP.
        node(
            "a",
            1,
            "a",
            "198.51.100.1:51820",
            "192.168.10.5/24",
            &[("allowed-location-ips", "192.168.10.0/24")],
        ),
        // Overlaps b's other range and c's: dropped on both sides.
        node(
            "b",
            2,
            "b",
            "198.51.100.2:51820",
            "10.2.0.2/16",
            &[("allowed-location-ips", "172.16.0.0/16")],
        ),
        node(
            "c",
            3,
            "c",
            "198.51.100.3:51820",
            "10.3.0.3/16",
            &[("allowed-location-ips", "172.16.5.0/24")],
        ),
        // Inside another segment's pod CIDR: dropped.
        node(
            "d",
            4,
            "d",
            "198.51.100.4:51820",
            "10.4.9.4/16",
            &[("allowed-location-ips", "10.42.1.128/25")],
        ),
        // Overlaps a Peer's IPs: dropped.
        node(
            "e",
            5,
            "e",
            "198.51.100.5:51820",
            "10.5.0.5/16",
            &[("allowed-location-ips", "10.77.0.0/16")],
        ),
    ];
    let peer = KiloPeer {
        name: "p".into(),
        allowed_ips: vec!["10.77.1.1/32".parse().unwrap()],
        public_key: PublicKey::from_bytes([9; 32]),
        endpoint: None,
        persistent_keepalive: 0,
        has_preshared_key: false,
    };
    let t = build_with_peers(&nodes, &[peer], Granularity::Location);
    let kept: Vec<Vec<String>> = t
        .segments
        .iter()
        .map(|s| s.location_ips.iter().map(|l| l.net.to_string()).collect())
        .collect();
    assert_eq!(
        kept,
        vec![vec!["192.168.10.0/24".to_owned()], vec![], vec![], vec![], vec![]]
    );
    let dropped: Vec<&str> = t.diagnostics.iter().map(|d| d.object.name.as_str()).collect();
    assert_eq!(dropped, ["b", "c", "d", "e"]);
}

#[test]
fn duplicate_peer_ips_are_dropped_from_later_peers() {
    let peer = |name: &str, n: u8, ips: &[&str]| KiloPeer {
        name: name.into(),
        allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        public_key: PublicKey::from_bytes([n; 32]),
        endpoint: None,
        persistent_keepalive: 0,
        has_preshared_key: false,
    };
    let nodes = [node("a", 1, "a", "198.51.100.1:51820", "10.1.0.1/16", &[])];
    let peers = [
        peer("zeta", 8, &["10.5.0.1/32", "10.5.0.2/32"]),
        peer("alpha", 9, &["10.5.0.2/32"]),
    ];
    let t = build_with_peers(&nodes, &peers, Granularity::Location);
    assert_eq!(t.peers[0].name, "alpha");
    assert_eq!(
        t.peers[1].allowed_ips,
        vec!["10.5.0.1/32".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn readiness_window_uses_now() {
    let n = node("a", 1, "a", "198.51.100.1:51820", "10.1.0.1/16", &[]);
    assert_eq!(readiness::check(&n, 1059), Ok(()));
    assert_eq!(
        readiness::check(&n, 1060),
        Err(readiness::NotReady::Stale { last_seen: 1000 })
    );
    // A clock behind last-seen is still ready (Kilo only checks the difference).
    assert_eq!(readiness::check(&n, 900), Ok(()));
    let mut no_endpoint = n.clone();
    no_endpoint.endpoint = None;
    assert_eq!(
        readiness::check(&no_endpoint, 1000),
        Err(readiness::NotReady::NoEndpoint)
    );
    let mut no_key = n.clone();
    no_key.key = None;
    assert_eq!(readiness::check(&no_key, 1000), Err(readiness::NotReady::NoKey));
    let mut no_pod = n;
    no_pod.pod_cidr = None;
    assert_eq!(
        readiness::check(&no_pod, 1000),
        Err(readiness::NotReady::NoPodCidr)
    );
}

#[test]
fn input_order_does_not_matter() {
    let nodes = vec![
        node("a", 1, "x", "10.0.0.1:51820", "10.1.0.1/16", &[]),
        node("b", 2, "y", "198.51.100.2:51820", "10.1.0.2/16", &[]),
        node("c", 3, "x", "198.51.100.3:51820", "10.1.0.3/16", &[]),
    ];
    let mut reversed = nodes.clone();
    reversed.reverse();
    assert_eq!(
        build(&nodes, Granularity::Location),
        build(&reversed, Granularity::Location)
    );
}
