//! Snapshot tests (insta) of the three renderers on the reference example.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::cluster::{key, kube_dns, node, peer, with};

use kubewire_core::render::{dot, json, wg_quick};
use kubewire_core::{Plan, PlanRequest, Snapshot, plan};

fn seed_plan() -> Plan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-cluster.yaml");
    let snapshot = Snapshot::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut request = PlanRequest::new("AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap());
    request.peer_name = Some("dev-laptop".into());
    request.address = Some("10.4.255.5/32".parse().unwrap());
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    request.settings.service_gateway = Some("aws".into());
    plan(&snapshot, &request, 1_800_000_010).unwrap()
}

#[test]
fn wg_quick_of_the_seed() {
    insta::assert_snapshot!(wg_quick::render(&seed_plan(), None));
}

#[test]
fn wg_quick_with_a_private_key() {
    let key = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=".parse().unwrap();
    insta::assert_snapshot!(wg_quick::render(&seed_plan(), Some(&key)));
}

#[test]
fn json_of_the_seed() {
    insta::assert_snapshot!(json::render(&seed_plan()).unwrap());
}

#[test]
fn dot_of_the_seed() {
    insta::assert_snapshot!(dot::render(&seed_plan()));
}

#[test]
fn wg_quick_leaves_out_empty_allowed_ips() {
    let mut plan = seed_plan();
    plan.peers[0].allowed_ips.clear();
    let text = wg_quick::render(&plan, None);
    assert!(!text.contains("AllowedIPs = \n"), "{text}");
    assert_eq!(text.matches("[Peer]").count(), 4);
}

/// Two nodes in one location (one behind NAT), a node on its own, a dialable Peer and one without an
/// endpoint.
fn richer_plan() -> Plan {
    let nodes = [
        node(
            "a1",
            1,
            "a",
            "198.51.100.1:51820",
            Some("192.168.1.1/24"),
            "10.42.1.0/24",
        ),
        with(
            node(
                "a2",
                2,
                "a",
                "10.9.0.2:51820",
                Some("192.168.1.2/24"),
                "10.42.2.0/24",
            ),
            "leader",
            "",
        ),
        with(
            node("solo", 3, "b", "198.51.100.3:51820", None, "10.42.3.0/24"),
            "persistent-keepalive",
            "25",
        ),
    ];
    let peers = [
        peer("router", 10, &["172.20.0.0/16"], Some(("203.0.113.10", 51820))),
        peer("phone", 11, &["10.4.200.1/32"], None),
    ];
    let snapshot = Snapshot::from_sources(&nodes, &peers, &[kube_dns("10.43.0.10")]);
    let mut request = PlanRequest::new(key(999).parse().unwrap());
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    plan(&snapshot, &request, 1010).unwrap()
}

#[test]
fn dot_of_a_richer_cluster() {
    insta::assert_snapshot!(dot::render(&richer_plan()));
}

#[test]
fn wg_quick_of_a_richer_cluster() {
    insta::assert_snapshot!(wg_quick::render(&richer_plan(), None));
}
