//! Parse + plan for 5,000 nodes in 100 locations plus 1,000 Peers, and re-planning after one node
//! changed. Run: `cargo bench -p kubewire-core --bench plan`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kubewire_core::{NodeSource, PlanRequest, Planner, PublicKey, Snapshot, plan};
use serde_json::{Value, json};

const NODES: u32 = 5_000;
const LOCATIONS: u32 = 100;
const PEERS: u32 = 1_000;
const NOW: i64 = 1_800_000_010;

fn key(n: u32) -> String {
    let mut bytes = [0x5a_u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    PublicKey::from_bytes(bytes).to_string()
}

fn node(i: u32, last_seen: i64) -> Value {
    let location = i % LOCATIONS;
    let index = i / LOCATIONS;
    let mut annotations = json!({
        "kilo.squat.ai/key": key(i),
        "kilo.squat.ai/endpoint": format!("198.{}.{}.{}:51820", 18 + i / 65_536, (i / 256) % 256, i % 256),
        "kilo.squat.ai/internal-ip": format!("172.16.{location}.{}/24", index + 1),
        "kilo.squat.ai/location": format!("region-{location:03}"),
        "kilo.squat.ai/last-seen": last_seen.to_string(),
        "kilo.squat.ai/granularity": "location",
        "kilo.squat.ai/discovered-endpoints": "{}",
    });
    if index == 0 {
        annotations["kilo.squat.ai/wireguard-ip"] = json!(format!("10.4.0.{}/16", location + 1));
        annotations["kilo.squat.ai/allowed-location-ips"] = json!(format!("192.168.{location}.0/24"));
        annotations["kilo.squat.ai/leader"] = json!("true");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": format!("node-{i:05}"),
            "labels": {"kubernetes.io/hostname": format!("node-{i:05}"), "kubernetes.io/os": "linux"},
            "annotations": annotations,
        },
        "spec": {"podCIDR": format!("10.{}.{}.0/24", 100 + i / 256, i % 256)},
    })
}

fn peer(i: u32) -> Value {
    let mut spec = json!({
        "allowedIPs": [format!("10.5.{}.{}/32", i / 256, i % 256)],
        "publicKey": key(100_000 + i),
        "persistentKeepalive": 25,
    });
    if i.is_multiple_of(2) {
        spec["endpoint"] =
            json!({"dnsOrIP": {"ip": format!("203.0.{}.{}", i / 256, i % 256)}, "port": 51820});
    }
    json!({"apiVersion": "kilo.squat.ai/v1alpha1", "kind": "Peer", "metadata": {"name": format!("peer-{i:04}")}, "spec": spec})
}

fn list() -> Value {
    let mut items: Vec<Value> = (0..NODES).map(|i| node(i, NOW - 5)).collect();
    items.extend((0..PEERS).map(peer));
    items.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "10.43.0.10"},
    }));
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fn request() -> PlanRequest {
    let mut r = PlanRequest::new(key(999_999).parse().unwrap());
    r.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    r
}

fn changed_node(i: u32, last_seen: i64) -> NodeSource {
    let value = node(i, last_seen);
    let annotations = value["metadata"]["annotations"].as_object().unwrap();
    NodeSource {
        name: format!("node-{i:05}"),
        labels: Default::default(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        pod_cidrs: vec![value["spec"]["podCIDR"].as_str().unwrap().to_owned()],
    }
}

/// This thread's CPU time in nanoseconds (Linux `schedstat`), so numbers hold on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Times `f` in CPU time when the OS tells it, else in wall time.
fn cpu_time<R>(iters: u64, mut f: impl FnMut() -> R) -> Duration {
    let wall = Instant::now();
    let start = thread_cpu_ns();
    for _ in 0..iters {
        black_box(f());
    }
    match (start, thread_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => wall.elapsed(),
    }
}

fn bench(c: &mut Criterion) {
    let list = list();
    let json_text = serde_json::to_string(&list).unwrap();
    let yaml_text = serde_yaml::to_string(&list).unwrap();
    let request = request();
    let snapshot = Snapshot::parse(&json_text).unwrap();
    let p = plan(&snapshot, &request, NOW).unwrap();
    assert_eq!(p.peers.len(), LOCATIONS as usize + PEERS as usize / 2);
    assert!(p.refused.is_empty(), "{:?}", p.refused.first());

    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    group.bench_function("parse+plan, JSON, 5000 nodes/100 locations/1000 peers", |b| {
        b.iter(|| plan(&Snapshot::parse(black_box(&json_text)).unwrap(), &request, NOW).unwrap());
    });
    group.bench_function("parse only, JSON", |b| {
        b.iter(|| Snapshot::parse(black_box(&json_text)).unwrap())
    });
    group.bench_function("parse only, YAML", |b| {
        b.iter(|| Snapshot::parse(black_box(&yaml_text)).unwrap())
    });
    group.bench_function("plan only (parsed snapshot)", |b| {
        b.iter(|| plan(black_box(&snapshot), &request, NOW).unwrap());
    });
    let mut planner = Planner::new(snapshot.clone(), request.clone());
    let mut tick = 0_i64;
    group.bench_function(
        "re-plan after one node's heartbeat (Planner: readiness scan)",
        |b| {
            b.iter(|| {
                tick += 1;
                planner.upsert_node(&changed_node(1234, NOW - 5 - tick % 20));
                planner.plan(black_box(NOW)).unwrap().peers.len()
            });
        },
    );
    group.bench_function(
        "re-plan after one node's endpoint changed (Planner: patched, no leader moves)",
        |b| {
            b.iter(|| {
                tick += 1;
                let mut node = changed_node(1234, NOW - 5);
                node.annotations.insert(
                    "kilo.squat.ai/endpoint".into(),
                    format!("198.51.100.{}:51820", tick % 200 + 1),
                );
                planner.upsert_node(&node);
                planner.plan(black_box(NOW)).unwrap().peers.len()
            });
        },
    );
    group.finish();

    // The same in CPU time of this thread: what the work costs, whatever else the machine runs.
    let mut group = c.benchmark_group("cpu-time");
    group.sample_size(20);
    group.bench_function("parse+plan, JSON", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                plan(&Snapshot::parse(&json_text).unwrap(), &request, NOW).unwrap()
            })
        });
    });
    group.bench_function("parse only, JSON", |b| {
        b.iter_custom(|n| cpu_time(n, || Snapshot::parse(&json_text)))
    });
    group.bench_function("parse only, YAML", |b| {
        b.iter_custom(|n| cpu_time(n, || Snapshot::parse(&yaml_text)))
    });
    group.bench_function("plan only", |b| {
        b.iter_custom(|n| cpu_time(n, || plan(&snapshot, &request, NOW)))
    });
    group.bench_function("re-plan after a heartbeat (Planner)", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                tick += 1;
                planner.upsert_node(&changed_node(1234, NOW - 5 - tick % 20));
                planner.plan(NOW).unwrap().peers.len()
            })
        });
    });
    group.bench_function("re-plan after an endpoint change (Planner)", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                tick += 1;
                let mut node = changed_node(1234, NOW - 5);
                node.annotations.insert(
                    "kilo.squat.ai/endpoint".into(),
                    format!("198.51.100.{}:51820", tick % 200 + 1),
                );
                planner.upsert_node(&node);
                planner.plan(NOW).unwrap().peers.len()
            })
        });
    });
    group.bench_function("re-plan after a leader's endpoint change (Planner)", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                tick += 1;
                // Node 34 leads location 34 (index 0, annotated leader).
                let mut node = changed_node(34, NOW - 5);
                node.annotations.insert(
                    "kilo.squat.ai/endpoint".into(),
                    format!("198.51.100.{}:51820", tick % 200 + 1),
                );
                planner.upsert_node(&node);
                planner.plan(NOW).unwrap().peers.len()
            })
        });
    });
    group.finish();
    eprintln!(
        "snapshot sizes: JSON {} bytes, YAML {} bytes",
        json_text.len(),
        yaml_text.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
