//! Snapshot tests (insta) of the three renderers on the reference example.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

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
