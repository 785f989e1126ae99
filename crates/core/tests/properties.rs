//! Properties on random clusters (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::cluster::{key, kube_dns};
use ipnet::IpNet;
use kubewire_core::annotations::{parse_node, parse_peer};
use kubewire_core::cidr::overlaps;
use kubewire_core::plan::RefusalReason;
use kubewire_core::policy::refusal_reason;
use kubewire_core::readiness;
use kubewire_core::{NodeSource, PeerEndpointSource, PeerSource, Plan, PlanRequest, Snapshot, plan};
use proptest::prelude::*;
use proptest::sample::select;

const NOW: i64 = 100_000;

/// Ranges a hostile or careless cluster may ask for.
const POOL: &[&str] = &[
    "0.0.0.0/0",
    "10.0.0.0/7",
    "10.0.0.0/8",
    "10.42.0.0/16",
    "10.42.1.0/24",
    "10.43.0.0/16",
    "10.43.9.0/24",
    "127.0.0.1/32",
    "169.254.0.0/16",
    "239.0.0.0/8",
    "172.20.0.0/16",
    "172.20.5.0/24",
    "192.168.1.0/24",
    "192.168.2.7/32",
    "192.168.50.0/24",
    "10.4.0.1/32",
    "10.4.200.0/24",
    "198.51.100.3/32",
    "fd00::/64",
    "::/0",
    "fe80::/64",
];

fn node_strategy() -> impl Strategy<Value = (u8, bool, u8, bool, u8, i64, Option<u8>, u8)> {
    (
        0_u8..4,                                        // location
        any::<bool>(),                                  // has internal IP
        0_u8..3,                                        // endpoint kind: public IP, private IP, DNS
        any::<bool>(),                                  // leader
        0_u8..3,                                        // keepalive: none, 0, 25
        0_i64..90,                                      // age of last-seen
        proptest::option::of(0_u8..(POOL.len() as u8)), // allowed-location-ips
        0_u8..3,                                        // granularity annotation: none, location, full
    )
}

fn build_node(i: usize, spec: &(u8, bool, u8, bool, u8, i64, Option<u8>, u8)) -> NodeSource {
    let (location, internal, endpoint, leader, keepalive, age, location_ip, granularity) = *spec;
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: String| a.insert(format!("kilo.squat.ai/{k}"), v);
    put("key", key(i as u32 + 1));
    put("last-seen", (NOW - age).to_string());
    put("location", format!("loc{location}"));
    put(
        "endpoint",
        match endpoint {
            0 => format!("198.51.100.{}:51820", i + 10),
            1 => format!("10.9.0.{}:51820", i + 10),
            _ => format!("n{i}.example.com:51820"),
        },
    );
    if internal {
        // Internal IPs may repeat across locations, as they do across clouds.
        put("internal-ip", format!("192.168.{location}.{}/24", i % 5 + 1));
    }
    if leader {
        put("leader", String::new());
    }
    match keepalive {
        1 => put("persistent-keepalive", "0".into()),
        2 => put("persistent-keepalive", "25".into()),
        _ => None,
    };
    if let Some(ip) = location_ip {
        put("allowed-location-ips", POOL[ip as usize].into());
    }
    match granularity {
        1 => put("granularity", "location".into()),
        2 => put("granularity", "full".into()),
        _ => None,
    };
    NodeSource {
        name: format!("node-{i:02}"),
        labels: BTreeMap::new(),
        annotations: a,
        pod_cidrs: vec![format!("10.42.{i}.0/24")],
    }
}

fn peer_strategy() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (
        proptest::collection::vec(0_u8..(POOL.len() as u8), 1..4),
        any::<bool>(),
    )
}

fn build_peer(i: usize, spec: &(Vec<u8>, bool)) -> PeerSource {
    PeerSource {
        name: format!("peer-{i}"),
        allowed_ips: spec.0.iter().map(|&k| POOL[k as usize].to_owned()).collect(),
        public_key: key(1000 + i as u32),
        endpoint: spec.1.then(|| PeerEndpointSource {
            dns: None,
            ip: Some(format!("203.0.113.{}", i + 1)),
            port: 51820,
        }),
        persistent_keepalive: 0,
        has_preshared_key: false,
    }
}

#[derive(Debug, Clone)]
struct Cluster {
    nodes: Vec<NodeSource>,
    peers: Vec<PeerSource>,
    local: Vec<IpNet>,
    gateway: Option<String>,
}

fn cluster() -> impl Strategy<Value = Cluster> {
    (
        proptest::collection::vec(node_strategy(), 1..10),
        proptest::collection::vec(peer_strategy(), 0..5),
        proptest::collection::vec(
            select(&["192.168.1.0/24", "172.20.0.0/16", "0.0.0.0/0", "10.99.0.0/16"][..]),
            0..3,
        ),
        proptest::option::of(0_usize..10),
    )
        .prop_map(|(nodes, peers, local, gateway)| Cluster {
            nodes: nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect(),
            peers: peers.iter().enumerate().map(|(i, s)| build_peer(i, s)).collect(),
            local: local.iter().map(|s| s.parse().unwrap()).collect(),
            gateway: gateway.map(|g| format!("node-{g:02}")),
        })
}

fn request(c: &Cluster) -> PlanRequest {
    let mut r = PlanRequest::new(key(77_777).parse().unwrap());
    r.local_networks.clone_from(&c.local);
    r.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    r.settings.service_gateway.clone_from(&c.gateway);
    r
}

fn plan_of(c: &Cluster) -> Option<Plan> {
    let snapshot = Snapshot::from_sources(&c.nodes, &c.peers, &[kube_dns("10.43.0.10")]);
    plan(&snapshot, &request(c), NOW).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_address_in_two_peers(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        for (i, a) in p.peers.iter().enumerate() {
            for b in p.peers.iter().skip(i + 1) {
                for x in &a.allowed_ips {
                    for y in &b.allowed_ips {
                        prop_assert!(!overlaps(x, y), "{x} ({}) overlaps {y} ({})", a.name, b.name);
                    }
                }
            }
        }
    }

    #[test]
    fn routes_equal_the_union_of_allowed_ips(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        let union: Vec<IpNet> = p.peers.iter().flat_map(|e| e.allowed_ips.iter().copied()).collect();
        prop_assert_eq!(&p.routes, &union);
    }

    #[test]
    fn every_ready_pod_cidr_is_covered_exactly_once(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        for source in &c.nodes {
            let (node, _) = parse_node(source);
            if readiness::check(&node, NOW).is_err() {
                continue;
            }
            let pod = node.pod_cidr.unwrap();
            if c.local.iter().any(|l| l.prefix_len() >= 8 && overlaps(l, &pod)) {
                continue; // refused on purpose: it is one of the laptop's networks
            }
            let holders: Vec<&str> = p
                .peers
                .iter()
                .filter(|e| e.allowed_ips.iter().any(|r| r.contains(&pod)))
                .map(|e| e.name.as_str())
                .collect();
            prop_assert_eq!(holders.len(), 1, "{} held by {:?}", pod, holders);
            let exact = p.peers.iter().filter(|e| e.allowed_ips.contains(&pod)).count();
            prop_assert_eq!(exact, 1, "{} not routed as such", pod);
        }
    }

    #[test]
    fn result_does_not_depend_on_input_order(c in cluster(), seed in any::<u64>()) {
        let mut shuffled = c.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.nodes.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(i as u64 + 7).rotate_left(i as u32) % (i as u64 + 1)) as usize;
            shuffled.nodes.swap(i, j);
        }
        shuffled.peers.reverse();
        prop_assert_eq!(plan_of(&c), plan_of(&shuffled));
    }

    #[test]
    fn no_refused_range_reaches_the_plan(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        let endpoints: Vec<_> = p.peers.iter().filter_map(|e| e.endpoint.as_ref().and_then(|x| x.ip())).collect();
        for route in &p.routes {
            prop_assert_eq!(refusal_reason(route, &c.local), None, "{} is routed", route);
            prop_assert!(!endpoints.iter().any(|ip| route.contains(ip)), "{} holds an endpoint", route);
        }
        for r in &p.refused {
            if !matches!(r.reason, RefusalReason::ClaimedByEarlierPeer { .. }) {
                prop_assert!(!p.routes.iter().any(|x| overlaps(x, &r.range) && refusal_reason(x, &c.local).is_some()));
            }
            prop_assert!(!p.peers.iter().any(|e| e.name == r.peer && e.allowed_ips.contains(&r.range)));
        }
    }

    #[test]
    fn daemon_recheck_is_a_fixed_point(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        let checked = kubewire_core::policy::enforce(p.clone(), &c.local).unwrap();
        prop_assert_eq!(checked, p);
    }

    #[test]
    fn json_round_trips(c in cluster()) {
        let Some(p) = plan_of(&c) else { return Ok(()) };
        let text = kubewire_core::render::json::render(&p).unwrap();
        prop_assert_eq!(kubewire_core::render::json::parse(&text).unwrap(), p);
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_annotations(
        values in proptest::collection::vec((select(ANNOTATIONS), ".*"), 0..14),
        pod in ".*",
        peer_ips in proptest::collection::vec(".*", 0..3),
        peer_key in ".*",
        port in any::<i64>(),
    ) {
        let source = NodeSource {
            name: "n".into(),
            labels: BTreeMap::new(),
            annotations: values.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            pod_cidrs: vec![pod],
        };
        let _ = parse_node(&source);
        let peer = PeerSource {
            name: "p".into(),
            allowed_ips: peer_ips,
            public_key: peer_key,
            endpoint: Some(PeerEndpointSource { dns: Some("x".into()), ip: None, port }),
            persistent_keepalive: port,
            has_preshared_key: false,
        };
        let _ = parse_peer(&peer);
        let snapshot = Snapshot::from_sources(&[source], &[peer], &[]);
        let _ = plan(&snapshot, &PlanRequest::new(key(1).parse().unwrap()), NOW);
    }

    #[test]
    fn snapshot_parsing_never_panics(text in ".*") {
        let _ = Snapshot::parse(&text);
    }
}

const ANNOTATIONS: &[&str] = &[
    "kilo.squat.ai/force-endpoint",
    "kilo.squat.ai/endpoint",
    "kilo.squat.ai/force-internal-ip",
    "kilo.squat.ai/internal-ip",
    "kilo.squat.ai/key",
    "kilo.squat.ai/last-seen",
    "kilo.squat.ai/leader",
    "kilo.squat.ai/location",
    "kilo.squat.ai/persistent-keepalive",
    "kilo.squat.ai/wireguard-ip",
    "kilo.squat.ai/discovered-endpoints",
    "kilo.squat.ai/allowed-location-ips",
    "kilo.squat.ai/granularity",
    "kilo.squat.ai/other",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// The Planner's cached answers equal a fresh plan after any sequence of heartbeats, clock moves
    /// and real changes.
    #[test]
    fn planner_matches_a_fresh_plan(
        c in cluster(),
        steps in proptest::collection::vec((0_usize..10, 0_i64..80, 0_i64..40, 0_u8..10), 1..12),
    ) {
        let snapshot = Snapshot::from_sources(&c.nodes, &c.peers, &[kube_dns("10.43.0.10")]);
        let mut planner = kubewire_core::Planner::new(snapshot, request(&c));
        let mut nodes = c.nodes.clone();
        let mut now = NOW;
        for (which, age, tick, kind) in steps {
            now += tick;
            let i = which % nodes.len();
            match kind {
                // A real change now and then: a new endpoint.
                0 => {
                    nodes[i].annotations.insert("kilo.squat.ai/endpoint".into(), format!("198.51.100.{}:4000", which + 100));
                }
                // Mostly heartbeats.
                _ => {
                    nodes[i].annotations.insert("kilo.squat.ai/last-seen".into(), (now - age).to_string());
                }
            }
            planner.upsert_node(&nodes[i]);
            let fresh = plan(planner.snapshot(), &request(&c), now);
            let cached = planner.plan(now).cloned();
            prop_assert_eq!(cached, fresh);
        }
    }
}

fn as_json_list(c: &Cluster) -> String {
    let mut items: Vec<serde_json::Value> = c
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": n.name, "labels": n.labels, "annotations": n.annotations},
                "spec": {"podCIDR": n.pod_cidrs.first(), "podCIDRs": n.pod_cidrs},
            })
        })
        .collect();
    items.extend(c.peers.iter().map(|p| {
        let mut spec = serde_json::json!({"allowedIPs": p.allowed_ips, "publicKey": p.public_key});
        if let Some(e) = &p.endpoint {
            spec["endpoint"] = serde_json::json!({"dnsOrIP": {"ip": e.ip}, "port": e.port});
        }
        serde_json::json!({"apiVersion": "kilo.squat.ai/v1alpha1", "kind": "Peer", "metadata": {"name": p.name}, "spec": spec})
    }));
    items.push(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": []}}));
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// The typed fast path reads exactly what the precise reader reads.
    #[test]
    fn fast_and_precise_readers_agree(c in cluster()) {
        let text = as_json_list(&c);
        let fast = kubewire_core::list::parse_list(&text);
        let precise = kubewire_core::list::parse_list_precisely(&text);
        prop_assert_eq!(&fast, &precise);
        let precise = precise.unwrap();
        prop_assert_eq!(precise.nodes.len(), c.nodes.len());
        let from_sources = Snapshot::from_sources(&precise.nodes, &precise.peers, &precise.services);
        prop_assert_eq!(Snapshot::parse(&text).unwrap(), from_sources.clone());
        // The same List as YAML.
        let yaml = serde_yaml::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap();
        prop_assert_eq!(kubewire_core::list::parse_list(&yaml), kubewire_core::list::parse_list_precisely(&yaml));
        prop_assert_eq!(Snapshot::parse(&yaml).unwrap(), from_sources);
    }
}

/// One random change to one node, as a watcher sees it.
fn change_node(nodes: &mut Vec<NodeSource>, which: usize, kind: u8, value: u8, now: i64) -> Option<String> {
    let i = which % nodes.len().max(1);
    let v = usize::from(value);
    let node = nodes.get_mut(i)?;
    let a = &mut node.annotations;
    let k = |s: &str| format!("kilo.squat.ai/{s}");
    match kind {
        // Endpoint: public, private, DNS, inside a range some peer asks for, invalid.
        0 => {
            let endpoint = match v % 5 {
                0 => format!("198.51.100.{}:4000", v + 100),
                1 => format!("10.9.1.{v}:51820"),
                2 => format!("m{v}.example.com:51820"),
                3 => "198.51.100.3:51820".to_owned(),
                _ => "nonsense".to_owned(),
            };
            a.insert(k("endpoint"), endpoint);
        }
        // Key: a fresh one, another node's, a Peer's, invalid.
        1 => {
            let key = match v % 4 {
                0 => key(500 + u32::from(value)),
                1 => key(u32::from(value % 10) + 1),
                2 => key(1000 + u32::from(value % 5)),
                _ => "bad".to_owned(),
            };
            a.insert(k("key"), key);
        }
        2 => {
            match v % 3 {
                0 => a.remove(&k("persistent-keepalive")),
                1 => a.insert(k("persistent-keepalive"), "0".into()),
                _ => a.insert(k("persistent-keepalive"), "25".into()),
            };
        }
        3 => {
            a.insert(k("location"), format!("loc{}", v % 4));
        }
        4 => {
            if v % 3 == 0 {
                a.remove(&k("internal-ip"));
            } else {
                a.insert(k("internal-ip"), format!("192.168.{}.{}/24", v % 4, v % 7 + 1));
            }
        }
        5 => node.pod_cidrs = vec![format!("10.42.{}.0/24", v + 50)],
        // Readiness: stale or fresh.
        6 => {
            let age = if v % 2 == 0 { 100 } else { 0 };
            a.insert(k("last-seen"), (now - age).to_string());
        }
        7 => {
            if a.remove(&k("leader")).is_none() {
                a.insert(k("leader"), String::new());
            }
        }
        8 => {
            let d = format!(
                r#"{{"{}":{{"IP":"203.0.113.{v}","Port":5000}}}}"#,
                key(v as u32 % 10 + 1)
            );
            a.insert(k("discovered-endpoints"), d);
        }
        9 => {
            let name = node.name.clone();
            nodes.remove(i);
            return Some(name);
        }
        _ => {
            let mut added = node.clone();
            added.name = format!("new-{v}");
            added.annotations.insert(k("key"), key(700 + u32::from(value)));
            added.pod_cidrs = vec![format!("10.42.{}.0/24", v + 100)];
            if !nodes.iter().any(|n| n.name == added.name) {
                nodes.push(added);
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The Planner's patched Plans equal a fresh plan after random single-node changes (endpoint, key,
    /// keepalive, location, internal IP, pod CIDR, readiness, leader annotation, discovered endpoints,
    /// removal, addition), one or a few between two plans.
    #[test]
    fn planner_matches_a_fresh_plan_after_node_changes(
        c in cluster(),
        steps in proptest::collection::vec((0_usize..12, 0_u8..11, any::<u8>(), 0_i64..20, 1_usize..3), 1..16),
    ) {
        let snapshot = Snapshot::from_sources(&c.nodes, &c.peers, &[kube_dns("10.43.0.10")]);
        let mut planner = kubewire_core::Planner::new(snapshot, request(&c));
        let mut nodes = c.nodes.clone();
        let mut now = NOW;
        let _ = planner.plan(now);
        for (which, kind, value, tick, repeat) in steps {
            now += tick;
            for r in 0..repeat {
                if nodes.is_empty() {
                    break;
                }
                // Mostly the cheap kinds, so that the patched path runs often.
                let kind = if r == 0 { kind } else { kind % 3 };
                let i = (which + r) % nodes.len();
                match change_node(&mut nodes, i, kind, value.wrapping_add(r as u8), now) {
                    Some(removed) => planner.remove_node(&removed),
                    None => {
                        let j = if kind >= 10 { nodes.len() - 1 } else { i.min(nodes.len() - 1) };
                        planner.upsert_node(&nodes[j]);
                    }
                }
            }
            let fresh = plan(planner.snapshot(), &request(&c), now);
            prop_assert_eq!(planner.snapshot(), &Snapshot::from_sources(&nodes, &c.peers, &[kube_dns("10.43.0.10")]));
            let cached = planner.plan(now).cloned();
            prop_assert_eq!(cached, fresh);
        }
    }
}
