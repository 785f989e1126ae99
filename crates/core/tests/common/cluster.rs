//! Builders of plain cluster objects for tests and benches.
#![allow(dead_code)]

use std::collections::BTreeMap;

use kubewire_core::{NodeSource, PeerEndpointSource, PeerSource, PublicKey, ServiceSource};

/// A key made of one repeated 16-bit number (distinct for distinct `n`).
pub fn key(n: u32) -> String {
    let mut bytes = [0x5a_u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    PublicKey::from_bytes(bytes).to_string()
}

/// A ready node (last seen at 1000) in `location`.
pub fn node(
    name: &str,
    n: u32,
    location: &str,
    endpoint: &str,
    internal: Option<&str>,
    pod: &str,
) -> NodeSource {
    let mut annotations = BTreeMap::new();
    annotations.insert("kilo.squat.ai/key".to_owned(), key(n));
    annotations.insert("kilo.squat.ai/endpoint".to_owned(), endpoint.to_owned());
    annotations.insert("kilo.squat.ai/location".to_owned(), location.to_owned());
    annotations.insert("kilo.squat.ai/last-seen".to_owned(), "1000".to_owned());
    annotations.insert("kilo.squat.ai/granularity".to_owned(), "location".to_owned());
    if let Some(internal) = internal {
        annotations.insert("kilo.squat.ai/internal-ip".to_owned(), internal.to_owned());
    }
    NodeSource {
        name: name.to_owned(),
        labels: BTreeMap::new(),
        annotations,
        pod_cidrs: vec![pod.to_owned()],
    }
}

/// Adds an annotation (`kilo.squat.ai/` prefix added).
pub fn with(mut node: NodeSource, annotation: &str, value: &str) -> NodeSource {
    node.annotations
        .insert(format!("kilo.squat.ai/{annotation}"), value.to_owned());
    node
}

/// A Kilo Peer; `endpoint` is `ip:port`.
pub fn peer(name: &str, n: u32, allowed: &[&str], endpoint: Option<(&str, i64)>) -> PeerSource {
    PeerSource {
        name: name.to_owned(),
        allowed_ips: allowed.iter().map(|s| (*s).to_owned()).collect(),
        public_key: key(n),
        endpoint: endpoint.map(|(ip, port)| PeerEndpointSource {
            dns: None,
            ip: Some(ip.to_owned()),
            port,
        }),
        persistent_keepalive: 0,
        has_preshared_key: false,
    }
}

/// kube-system/kube-dns with the given ClusterIP.
pub fn kube_dns(ip: &str) -> ServiceSource {
    ServiceSource {
        namespace: "kube-system".into(),
        name: "kube-dns".into(),
        labels: BTreeMap::new(),
        cluster_ip: Some(ip.into()),
    }
}
