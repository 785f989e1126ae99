//! The frame limit against a real Plan: the core plans a synthetic cluster of 5,000 nodes with
//! every node its own segment (5,000 peers) plus 1,000 Kilo Peers (the core bench's builders, with
//! `granularity: full`), and the whole Apply request must fit [`MAX_FRAME`] four times over.
#![allow(clippy::unwrap_used)]

use kubewire_core::{PlanRequest, PublicKey, Snapshot, plan};
use kubewire_ipc::{MAX_FRAME, Request, SecretKey, SessionInfo};
use serde_json::{Value, json};

const NODES: u32 = 5_000;
const PEERS: u32 = 1_000;
const NOW: i64 = 1_800_000_010;

fn key(n: u32) -> String {
    let mut bytes = [0x5a_u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    PublicKey::from_bytes(bytes).to_string()
}

fn node(i: u32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": format!("node-{i:05}-a-fairly-long-cloud-provider-host-name"),
            "annotations": {
                "kilo.squat.ai/key": key(i),
                "kilo.squat.ai/endpoint": format!("198.{}.{}.{}:51820", 18 + i / 65_536, (i / 256) % 256, i % 256),
                "kilo.squat.ai/internal-ip": format!("172.16.{}.{}/16", i / 250, i % 250 + 1),
                "kilo.squat.ai/location": format!("region-{i:05}"),
                "kilo.squat.ai/last-seen": (NOW - 5).to_string(),
                "kilo.squat.ai/granularity": "full",
                "kilo.squat.ai/wireguard-ip": format!("10.4.{}.{}/16", i / 250, i % 250 + 1),
                "kilo.squat.ai/leader": "true",
            },
        },
        "spec": {"podCIDR": format!("10.{}.{}.0/24", 100 + i / 256, i % 256)},
    })
}

fn peer(i: u32) -> Value {
    json!({
        "apiVersion": "kilo.squat.ai/v1alpha1", "kind": "Peer",
        "metadata": {"name": format!("peer-{i:04}")},
        "spec": {
            "allowedIPs": [format!("10.5.{}.{}/32", i / 256, i % 256)],
            "publicKey": key(100_000 + i),
            "persistentKeepalive": 25,
            "endpoint": {"dnsOrIP": {"ip": format!("203.0.{}.{}", i / 256, i % 256)}, "port": 51820},
        },
    })
}

#[test]
fn an_apply_of_6000_peers_fits_with_room_to_spare() {
    let mut items: Vec<Value> = (0..NODES).map(node).collect();
    items.extend((0..PEERS).map(peer));
    items.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "10.43.0.10"},
    }));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let snapshot = Snapshot::parse(&serde_json::to_string(&list).unwrap()).unwrap();
    let mut request = PlanRequest::new(key(999_999).parse().unwrap());
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    let plan = plan(&snapshot, &request, NOW).unwrap();
    let peers = plan.peers.len();
    let apply = Request::Apply {
        plan: Box::new(plan),
        private_key: SecretKey("a".repeat(44)),
        preshared_key: Some(SecretKey("b".repeat(44))),
        session: SessionInfo {
            context: "production-cluster-context".into(),
            cluster: "https://api.production.example.com:6443".into(),
            peer_name: "laptop-of-a-developer".into(),
            name: "production-cluster-context".into(),
        },
    };
    let bytes = serde_json::to_vec(&kubewire_ipc::Envelope::new(&apply))
        .unwrap()
        .len();
    println!(
        "MEASURE Apply with {peers} peers: {bytes} bytes of JSON ({:.2} MiB); MAX_FRAME {} MiB",
        bytes as f64 / 1024.0 / 1024.0,
        MAX_FRAME / 1024 / 1024
    );
    assert!(peers >= 5_000, "the synthetic cluster planned only {peers} peers");
    assert!(
        bytes * 4 <= MAX_FRAME,
        "{bytes} bytes leave less than 4x headroom"
    );
}
