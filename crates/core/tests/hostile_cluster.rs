//! A hostile cluster against the planner: public ranges in its annotations, Peers and service CIDR,
//! a laptop address it picks badly, a cluster domain that is a public suffix. Each test asserts what
//! the user would see: a route absent or present, the plan refused with a message naming the culprit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{key, kube_dns, node, peer, with};
use ipnet::IpNet;
use kubewire_core::{NodeSource, PeerSource, PlanRequest, Snapshot, plan};

const NOW: i64 = 1010;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn laptop() -> PlanRequest {
    let mut r = PlanRequest::new(key(999).parse().unwrap());
    r.settings.service_cidrs = vec![net("10.43.0.0/16")];
    r.peer_name = Some("laptop".into());
    r
}

/// Two clouds; leaders announce the Kilo subnet 10.4.0.0/16.
fn clouds() -> Vec<NodeSource> {
    vec![
        with(
            node(
                "a1",
                1,
                "a",
                "198.51.100.1:51820",
                Some("192.168.10.1/24"),
                "10.42.1.0/24",
            ),
            "wireguard-ip",
            "10.4.0.1/16",
        ),
        with(
            node(
                "b1",
                2,
                "b",
                "198.51.100.2:51820",
                Some("192.168.20.1/24"),
                "10.42.2.0/24",
            ),
            "wireguard-ip",
            "10.4.0.2/16",
        ),
    ]
}

fn snapshot(nodes: &[NodeSource], peers: &[PeerSource]) -> Snapshot {
    Snapshot::from_sources(nodes, peers, &[kube_dns("10.43.0.10")])
}

fn own_peer(address: &str) -> PeerSource {
    peer("laptop", 999, &[address], None)
}

#[test]
fn public_location_ips_are_dropped_and_the_rest_of_the_plan_stays() {
    let mut nodes = clouds();
    nodes[0] = with(
        nodes[0].clone(),
        "allowed-location-ips",
        "1.0.0.0/8,2.0.0.0/8,172.20.0.0/16",
    );
    let p = plan(&snapshot(&nodes, &[]), &laptop(), NOW).unwrap();
    for public in ["1.0.0.0/8", "2.0.0.0/8"] {
        assert!(
            !p.routes.contains(&net(public)),
            "{public} routed: {:?}",
            p.routes
        );
        let refusal = p
            .refused
            .iter()
            .find(|r| r.range == net(public))
            .expect("reported");
        let text = refusal.to_string();
        assert!(
            text.contains("public range") && text.contains("--allow-public-range"),
            "{text}"
        );
        assert!(text.contains("node/a1"), "{text}");
    }
    // The private location range, the pods, the service CIDR and the other cloud stay.
    for kept in ["172.20.0.0/16", "10.42.1.0/24", "10.42.2.0/24", "10.43.0.0/16"] {
        assert!(p.routes.contains(&net(kept)), "{kept} missing: {:?}", p.routes);
    }
    assert_eq!(p.peers.len(), 2);
}

#[test]
fn a_full_tunnel_split_in_two_halves_is_refused() {
    let peers = [peer(
        "vpn",
        50,
        &["0.0.0.0/1", "128.0.0.0/1", "10.50.0.0/16"],
        Some(("198.51.100.50", 51820)),
    )];
    let p = plan(&snapshot(&clouds(), &peers), &laptop(), NOW).unwrap();
    assert!(!p.routes.contains(&net("0.0.0.0/1")));
    assert!(!p.routes.contains(&net("128.0.0.0/1")));
    assert!(p.routes.contains(&net("10.50.0.0/16")));
}

#[test]
fn public_ranges_of_peers_and_the_service_cidr_are_dropped() {
    let peers = [peer(
        "office",
        51,
        &["8.8.8.0/24", "10.60.0.0/16"],
        Some(("198.51.100.60", 51820)),
    )];
    let mut request = laptop();
    request.settings.service_cidrs = vec![net("10.43.0.0/16"), net("9.9.0.0/16")];
    let p = plan(&snapshot(&clouds(), &peers), &request, NOW).unwrap();
    assert!(!p.routes.contains(&net("8.8.8.0/24")), "{:?}", p.routes);
    assert!(!p.routes.contains(&net("9.9.0.0/16")), "{:?}", p.routes);
    assert!(p.routes.contains(&net("10.60.0.0/16")));
    assert!(p.routes.contains(&net("10.43.0.0/16")));
    let by_setting = p.refused.iter().find(|r| r.range == net("9.9.0.0/16")).unwrap();
    assert!(
        by_setting.to_string().contains("setting/service-cidr"),
        "{by_setting}"
    );
}

#[test]
fn the_users_router_as_laptop_address_is_refused() {
    let mut request = laptop();
    request.local_networks = vec![net("192.168.1.0/24"), net("0.0.0.0/0")];
    let err = plan(&snapshot(&clouds(), &[own_peer("192.168.1.1/32")]), &request, NOW).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("192.168.1.1"), "{text}");
    assert!(text.contains("192.168.1.0/24"), "{text}");
    assert!(text.contains("Kilo Peer laptop"), "{text}");
}

#[test]
fn a_public_laptop_address_is_refused() {
    let err = plan(&snapshot(&clouds(), &[own_peer("8.8.8.8/32")]), &laptop(), NOW).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("8.8.8.8 is not a private-use address"), "{text}");
}

#[test]
fn a_laptop_address_outside_the_announced_kilo_subnet_is_refused() {
    let err = plan(&snapshot(&clouds(), &[own_peer("10.5.0.9/32")]), &laptop(), NOW).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("10.5.0.9 is outside the cluster's Kilo subnet 10.4.0.0/16"),
        "{text}"
    );
    // Inside it, all is well.
    let p = plan(&snapshot(&clouds(), &[own_peer("10.4.200.9/32")]), &laptop(), NOW).unwrap();
    assert_eq!(p.interface.address, net("10.4.200.9/32"));
}

#[test]
fn a_public_kilo_subnet_gives_no_public_address() {
    let nodes = vec![with(
        node(
            "a1",
            1,
            "a",
            "198.51.100.1:51820",
            Some("192.168.10.1/24"),
            "10.42.1.0/24",
        ),
        "wireguard-ip",
        "8.8.0.1/16",
    )];
    let mut request = laptop();
    request.peer_name = None;
    let err = plan(&snapshot(&nodes, &[]), &request, NOW).unwrap_err();
    assert!(err.to_string().contains("is not a private-use address"), "{err}");
}

#[test]
fn public_suffixes_as_cluster_zone_are_refused() {
    for zone in [
        "com",
        ".",
        "co.uk",
        "cluster.local\nnameserver 192.0.2.66",
        "google.com",
    ] {
        let mut request = laptop();
        request.settings.dns_zone = zone.into();
        let err = plan(&snapshot(&clouds(), &[]), &request, NOW)
            .map(|p| format!("accepted, zone {:?}", p.dns.zone))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cluster zone"), "{zone:?}: {text}");
        assert!(!text.contains('\n'), "{zone:?}: {text}");
    }
}

#[test]
fn a_dns_server_outside_the_routed_ranges_is_not_used() {
    let mut request = laptop();
    request.settings.service_cidrs = vec![];
    let p = plan(&snapshot(&clouds(), &[]), &request, NOW).unwrap();
    assert_eq!(p.dns.server, None, "the cluster DNS 10.43.0.10 is not routed");
}

#[test]
fn dangerous_interface_names_are_refused() {
    for name in ["../../etc/x", "eth0 up", "-h", "averyveryverylongname", "kw\n0"] {
        let mut request = laptop();
        request.settings.interface_name = name.into();
        let err = plan(&snapshot(&clouds(), &[]), &request, NOW)
            .map(|_| "accepted")
            .unwrap_err();
        assert!(err.to_string().contains("interface name"), "{name:?}: {err}");
    }
}

#[test]
fn huge_annotation_values_do_not_grow_the_plan() {
    // 2,000 nodes whose annotations are each 20 kB of nonsense: the Plan reports stay small.
    let garbage = "x".repeat(20_000);
    let mut nodes = clouds();
    for i in 0..2_000_u32 {
        let mut n = node(
            &format!("junk{i}"),
            10 + i,
            "a",
            &garbage,
            Some(&garbage),
            &garbage,
        );
        n = with(n, "allowed-location-ips", &garbage);
        n = with(n, "granularity", &garbage);
        nodes.push(n);
    }
    let p = plan(&snapshot(&nodes, &[]), &laptop(), NOW).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    eprintln!("Plan JSON: {} bytes", json.len());
    assert!(json.len() < 200_000, "Plan JSON is {} bytes", json.len());
    assert!(p.diagnostics.len() <= 100, "{}", p.diagnostics.len());
    assert!(p.skipped.len() <= 100, "{}", p.skipped.len());
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.message.contains("more diagnostics")),
        "no summary"
    );
    assert!(
        p.skipped.iter().any(|s| s.reason.contains("more skipped")),
        "no summary"
    );
}
