//! The namespaces a Plan lets `<svc>.<ns>` short names use (issue 12, item 1): unknown until listed,
//! then the cluster's own, less any named like a public domain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::cluster::{key, kube_dns, node};
use kubewire_core::{Change, ObjectKind, PlanRequest, Snapshot, plan};

fn snapshot() -> Snapshot {
    let nodes = [node(
        "a1",
        1,
        "a",
        "198.51.100.1:51820",
        Some("192.168.1.1/24"),
        "10.42.1.0/24",
    )];
    Snapshot::from_sources(&nodes, &[], &[kube_dns("10.43.0.10")])
}

fn request() -> PlanRequest {
    let mut r = PlanRequest::new(key(999).parse().unwrap());
    r.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    r
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn namespaces_are_unknown_until_listed() {
    let p = plan(&snapshot(), &request(), 1010).unwrap();
    assert_eq!(p.dns.namespaces, None);
    let json = serde_json::to_string(&p.dns).unwrap();
    assert!(!json.contains("namespaces"), "{json}");
}

#[test]
fn listed_namespaces_reach_the_plan_and_those_named_like_public_domains_are_warned_about() {
    let mut s = snapshot();
    assert_eq!(
        s.set_namespaces(Some(set(&["default", "kube-system", "com", "dev", "team-a"]))),
        Change::Changed
    );
    let p = plan(&s, &request(), 1010).unwrap();
    assert_eq!(
        p.dns.namespaces,
        Some(vec![
            "com".into(),
            "default".into(),
            "dev".into(),
            "kube-system".into(),
            "team-a".into()
        ])
    );
    let warned: Vec<&str> = p
        .diagnostics
        .iter()
        .filter(|d| d.object.kind == ObjectKind::Namespace)
        .map(|d| d.object.name.as_str())
        .collect();
    assert_eq!(warned, vec!["com", "dev"]);
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.message.contains("<service>.com stays an internet name")),
        "{:?}",
        p.diagnostics
    );
}

#[test]
fn namespaces_follow_adds_and_deletes() {
    let mut s = snapshot();
    assert_eq!(s.upsert_namespace("early"), Change::Same, "unknown stays unknown");
    assert_eq!(s.namespaces(), None);
    s.set_namespaces(Some(set(&["default"])));
    assert_eq!(s.upsert_namespace("team-a"), Change::Changed);
    assert_eq!(s.upsert_namespace("team-a"), Change::Same);
    assert_eq!(s.remove_namespace("default"), Change::Changed);
    assert_eq!(s.remove_namespace("default"), Change::Same);
    let p = plan(&s, &request(), 1010).unwrap();
    assert_eq!(p.dns.namespaces, Some(vec!["team-a".into()]));
}
