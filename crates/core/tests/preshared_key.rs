//! The laptop's preshared key and its Peer's `spec.presharedKey`: the Plan warns, naming the Peer's
//! field, exactly when the two disagree (then the cluster drops the laptop's handshakes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{key, kube_dns, node, peer, with};
use kubewire_core::{PlanRequest, Snapshot, plan};

fn warnings(peer_has_psk: bool, laptop_has_psk: bool) -> Vec<String> {
    let nodes = [with(
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
    )];
    let mut own = peer("laptop", 999, &["10.4.200.7/32"], None);
    own.has_preshared_key = peer_has_psk;
    let snapshot = Snapshot::from_sources(&nodes, &[own], &[kube_dns("10.43.0.10")]);
    let mut request = PlanRequest::new(key(999).parse().unwrap());
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    request.peer_name = Some("laptop".into());
    request.preshared_key = laptop_has_psk;
    let p = plan(&snapshot, &request, 1010).unwrap();
    p.diagnostics
        .iter()
        .map(ToString::to_string)
        .filter(|d| d.contains("presharedKey"))
        .collect()
}

#[test]
fn a_preshared_key_on_both_sides_or_on_neither_is_quiet() {
    assert_eq!(warnings(true, true), Vec::<String>::new());
    assert_eq!(warnings(false, false), Vec::<String>::new());
}

#[test]
fn a_preshared_key_on_one_side_only_is_named() {
    let w = warnings(true, false);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("peer/laptop") && w[0].contains("no preshared key for this cluster"),
        "{w:?}"
    );
    let w = warnings(false, true);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("is not set, but this laptop uses a preshared key"),
        "{w:?}"
    );
}
