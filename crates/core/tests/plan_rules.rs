//! The laptop-side rules of the Plan: gateway, Peers, address, DNS, policy, and the daemon's re-check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{key, kube_dns, node, peer, with};
use ipnet::IpNet;
use kubewire_core::plan::{GatewayRule, PeerKind, RefusalReason};
use kubewire_core::policy::{PlanRejected, enforce};
use kubewire_core::{NodeSource, PeerSource, PlanRequest, Snapshot, plan};

const NOW: i64 = 1010;

fn laptop() -> PlanRequest {
    let mut r = PlanRequest::new(key(999).parse().unwrap());
    r.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    r
}

fn three_clouds() -> Vec<NodeSource> {
    vec![
        with(
            node(
                "a1",
                1,
                "a",
                "198.51.100.1:51820",
                Some("192.168.1.1/24"),
                "10.42.1.0/24",
            ),
            "persistent-keepalive",
            "25",
        ),
        node(
            "b1",
            2,
            "b",
            "198.51.100.2:51820",
            Some("192.168.2.1/24"),
            "10.42.2.0/24",
        ),
        node(
            "c1",
            3,
            "c",
            "198.51.100.3:51820",
            Some("192.168.3.1/24"),
            "10.42.3.0/24",
        ),
    ]
}

fn run(nodes: &[NodeSource], peers: &[PeerSource], request: &PlanRequest) -> kubewire_core::Plan {
    let snapshot = Snapshot::from_sources(nodes, peers, &[kube_dns("10.43.0.10")]);
    plan(&snapshot, request, NOW).unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn gateway_is_first_segment_not_behind_nat() {
    let p = run(&three_clouds(), &[], &laptop());
    let g = p.service_gateway.unwrap();
    assert_eq!(
        (g.peer.as_str(), g.rule),
        ("location:b", GatewayRule::FirstNotBehindNat)
    );
    assert_eq!(p.peers[1].allowed_ips.last(), Some(&net("10.43.0.0/16")));
    assert_eq!(p.routes.iter().filter(|r| **r == net("10.43.0.0/16")).count(), 1);
}

#[test]
fn gateway_is_first_segment_when_all_are_behind_nat() {
    let nodes: Vec<NodeSource> = three_clouds()
        .into_iter()
        .map(|n| with(n, "persistent-keepalive", "10"))
        .collect();
    let g = run(&nodes, &[], &laptop()).service_gateway.unwrap();
    assert_eq!(
        (g.peer.as_str(), g.rule),
        ("location:a", GatewayRule::FirstSegment)
    );
}

#[test]
fn gateway_can_be_requested_by_node_and_unknown_nodes_fall_back() {
    let mut request = laptop();
    request.settings.service_gateway = Some("c1".into());
    let g = run(&three_clouds(), &[], &request).service_gateway.unwrap();
    assert_eq!(
        (g.peer.as_str(), g.rule),
        ("location:c", GatewayRule::Requested { node: "c1".into() })
    );
    request.settings.service_gateway = Some("nope".into());
    let p = run(&three_clouds(), &[], &request);
    assert_eq!(p.service_gateway.unwrap().peer, "location:b");
    assert!(
        p.diagnostics.iter().any(|d| d.object.name == "service-gateway"),
        "{:?}",
        p.diagnostics
    );
}

#[test]
fn kilo_peers_dialable_only_and_own_peer_left_out() {
    let mut request = laptop();
    request.peer_name = Some("me".into());
    let peers = [
        peer("me", 500, &["10.4.200.1/32"], None),
        peer(
            "also-me-by-key",
            999,
            &["10.4.200.2/32"],
            Some(("203.0.113.1", 51820)),
        ),
        peer("no-endpoint", 501, &["10.4.200.3/32"], None),
        peer(
            "router",
            502,
            &["10.4.200.4/32", "172.20.0.0/16"],
            Some(("203.0.113.2", 51820)),
        ),
    ];
    let p = run(&three_clouds(), &peers, &request);
    let names: Vec<&str> = p.peers.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["location:a", "location:b", "location:c", "router"]);
    assert_eq!(p.peers[3].kind, PeerKind::KiloPeer);
    assert_eq!(
        p.peers[3].allowed_ips,
        vec![net("10.4.200.4/32"), net("172.20.0.0/16")]
    );
    let skipped: Vec<&str> = p.skipped.iter().map(|s| s.object.name.as_str()).collect();
    assert_eq!(skipped, ["also-me-by-key", "me", "no-endpoint"]);
    // The laptop's address is its own Peer's address.
    assert_eq!(p.interface.address, net("10.4.200.1/32"));
    // The named Peer has another key: warned.
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.object.name == "me" && d.field.as_deref() == Some("spec.publicKey"))
    );
}

#[test]
fn chosen_address_is_stable_and_avoids_peers_and_segments() {
    let p1 = run(&three_clouds(), &[], &laptop());
    let address = p1.interface.address;
    assert_eq!(address.prefix_len(), 32);
    assert!(net("10.4.128.0/17").contains(&address));
    // A Peer taking exactly that address moves the laptop elsewhere; the same key gives the same address.
    let squatter = peer(
        "squatter",
        7,
        &[&address.to_string()],
        Some(("203.0.113.3", 51820)),
    );
    let p2 = run(&three_clouds(), &[squatter], &laptop());
    assert_ne!(p2.interface.address, address);
    assert_eq!(run(&three_clouds(), &[], &laptop()).interface.address, address);
    for e in &p2.peers {
        assert!(
            !e.allowed_ips
                .iter()
                .any(|r| r.contains(&p2.interface.address.addr()))
        );
    }
}

#[test]
fn dns_zone_server_and_search() {
    let mut request = laptop();
    request.settings.namespace = "shop".into();
    let p = run(&three_clouds(), &[], &request);
    assert_eq!(p.dns.zone, "cluster.local");
    assert_eq!(p.dns.server, Some("10.43.0.10".parse().unwrap()));
    assert_eq!(p.dns.search, ["shop.svc.cluster.local", "svc.cluster.local"]);
    let snapshot = Snapshot::from_sources(&three_clouds(), &[], &[]);
    let p = plan(&snapshot, &laptop(), NOW).unwrap();
    assert_eq!(p.dns.server, None);
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.object.name == "kube-system/kube-dns")
    );
}

#[test]
fn policy_refuses_hijacks_and_keeps_the_rest_of_the_entry() {
    let evil = peer(
        "evil",
        66,
        &[
            "0.0.0.0/0",
            "10.0.0.0/7",
            "127.0.0.0/8",
            "169.254.169.254/32",
            "239.1.0.0/16",
            "192.168.77.0/24",
            "203.0.113.50/32",
            "10.42.1.0/25",
            "10.99.0.0/16",
        ],
        Some(("203.0.113.50", 51820)),
    );
    let mut request = laptop();
    request.local_networks = vec![net("192.168.77.0/24"), net("0.0.0.0/0")];
    // Allowed, so that the endpoint rule shows (the allow-list never lifts it).
    request.settings.allowed_public_ranges = vec![net("203.0.113.0/24")];
    let p = run(&three_clouds(), &[evil], &request);
    let entry = p.peers.iter().find(|e| e.name == "evil").unwrap();
    assert_eq!(entry.allowed_ips, vec![net("10.99.0.0/16")]);
    let reasons: Vec<(String, RefusalReason)> = p
        .refused
        .iter()
        .map(|r| (r.range.to_string(), r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("0.0.0.0/0".into(), RefusalReason::TooBroad),
            ("10.0.0.0/7".into(), RefusalReason::TooBroad),
            ("127.0.0.0/8".into(), RefusalReason::Loopback),
            ("169.254.169.254/32".into(), RefusalReason::LinkLocal),
            ("239.1.0.0/16".into(), RefusalReason::Multicast),
            (
                "192.168.77.0/24".into(),
                RefusalReason::OverlapsLocalNetwork {
                    network: net("192.168.77.0/24")
                }
            ),
            (
                "203.0.113.50/32".into(),
                RefusalReason::ContainsEndpoint {
                    endpoint_of: "evil".into(),
                    address: "203.0.113.50".parse().unwrap()
                }
            ),
            (
                "10.42.1.0/25".into(),
                RefusalReason::ClaimedByEarlierPeer {
                    held_by: "location:a".into(),
                    held_range: net("10.42.1.0/24")
                }
            ),
        ]
    );
    assert!(
        p.refused
            .iter()
            .all(|r| r.requested_by.as_ref().is_some_and(|o| o.name == "evil"))
    );
    for r in &p.refused {
        assert!(!p.routes.contains(&r.range));
    }
}

#[test]
fn local_route_overlapping_a_pod_cidr_is_refused_with_the_node_named() {
    let mut request = laptop();
    request.local_networks = vec![net("10.42.2.0/23")];
    let p = run(&three_clouds(), &[], &request);
    let refused: Vec<(String, String)> = p
        .refused
        .iter()
        .map(|r| (r.range.to_string(), r.requested_by.clone().unwrap().to_string()))
        .collect();
    assert_eq!(
        refused,
        [
            ("10.42.2.0/24".into(), "node/b1".into()),
            ("10.42.3.0/24".into(), "node/c1".into())
        ]
    );
}

#[test]
fn routes_are_exactly_the_allowed_ips() {
    let p = run(
        &three_clouds(),
        &[peer("r", 5, &["172.20.0.0/16"], Some(("203.0.113.2", 51820)))],
        &laptop(),
    );
    let union: Vec<IpNet> = p.peers.iter().flat_map(|e| e.allowed_ips.clone()).collect();
    assert_eq!(p.routes, union);
}

#[test]
fn granularity_auto_reads_nodes_and_setting_overrides() {
    let nodes: Vec<NodeSource> = three_clouds()
        .into_iter()
        .map(|n| with(n, "granularity", "full"))
        .collect();
    let p = run(&nodes, &[], &laptop());
    assert_eq!(p.peers[0].name, "node:a1");
    let mut request = laptop();
    request.settings.granularity = kubewire_core::GranularitySetting::Location;
    assert_eq!(run(&nodes, &[], &request).peers[0].name, "location:a");
}

#[test]
fn enforce_refilters_with_the_daemons_networks_and_rejects_bad_shapes() {
    let p = run(&three_clouds(), &[], &laptop());
    let checked = enforce(p.clone(), &[net("192.168.3.0/24")]).unwrap();
    assert_eq!(checked.refused.len(), p.refused.len() + 1);
    assert!(!checked.routes.contains(&net("192.168.3.1/32")));
    let mut bad = p.clone();
    bad.version = 99;
    assert_eq!(enforce(bad, &[]), Err(PlanRejected::Version(99)));
    let mut bad = p.clone();
    bad.peers[1].public_key = bad.peers[0].public_key;
    assert!(matches!(enforce(bad, &[]), Err(PlanRejected::DuplicateKey(_))));
    let mut bad = p.clone();
    bad.interface.address = net("10.4.0.0/16");
    assert!(matches!(enforce(bad, &[]), Err(PlanRejected::Address(_))));
    // A tampered Plan with a default route loses it.
    let mut tampered = p;
    tampered.peers[0].allowed_ips.push(net("0.0.0.0/0"));
    let checked = enforce(tampered, &[]).unwrap();
    assert!(!checked.routes.contains(&net("0.0.0.0/0")));
}

#[test]
fn no_ready_node_is_an_error_with_reasons() {
    let snapshot = Snapshot::from_sources(&three_clouds(), &[], &[]);
    let err = plan(&snapshot, &laptop(), 5000).unwrap_err();
    match err {
        kubewire_core::PlanError::NoReadyNodes { total, skipped } => {
            assert_eq!(total, 3);
            assert!(
                skipped[0].reason.contains("last seen 1970-01-01T00:16:40Z"),
                "{skipped:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn node_ranges_win_overlaps_over_location_ips_and_peers() {
    // a's allowed-location-ips contains b's pod CIDR: Kilo keeps it (it is not inside an AllowedIP),
    // but routing it to a would steal b's pods, so the node range wins and the location range is refused.
    let mut nodes = three_clouds();
    nodes[0] = with(nodes[0].clone(), "allowed-location-ips", "10.42.0.0/16");
    let thief = peer(
        "thief",
        9,
        &["192.168.2.0/24", "10.43.1.0/24"],
        Some(("203.0.113.9", 51820)),
    );
    let p = run(&nodes, &[thief], &laptop());
    assert!(p.peers[1].allowed_ips.contains(&net("10.42.2.0/24")));
    assert!(!p.peers[0].allowed_ips.contains(&net("10.42.0.0/16")));
    let thief = p.peers.iter().find(|e| e.name == "thief").unwrap();
    assert!(thief.allowed_ips.is_empty(), "{thief:?}");
    let lost: Vec<(String, String)> = p
        .refused
        .iter()
        .map(|r| (r.range.to_string(), r.requested_by.clone().unwrap().to_string()))
        .collect();
    assert_eq!(
        lost,
        [
            ("10.42.0.0/16".into(), "node/a1".into()),
            ("192.168.2.0/24".into(), "peer/thief".into()),
            ("10.43.1.0/24".into(), "peer/thief".into()),
        ]
    );
}
