#![allow(clippy::unwrap_used)]

//! Tests against a running lab: `cargo xtask test` brings it up, runs these one at a time, takes it
//! down. By hand: `kubewire-lab up` then `cargo test -p kubewire-lab --test lab -- --ignored --test-threads=1`.
//! Every test leaves the lab as it found it.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use kubewire_lab::control::Request;
use kubewire_lab::desc::LabDescription;
use kubewire_lab::keys;
use kubewire_lab::testing::{
    Restore, control, exec, http_get, http_get_within, kubectl, lab, ping, wait_until,
};

const NEEDS_LAB: &str = "needs the lab: cargo xtask test";
const QUICK: Duration = Duration::from_secs(2);

/// Deletes a test's Peer even when the test fails.
struct DeletePeer<'a>(&'a LabDescription, &'static str);

impl Drop for DeletePeer<'_> {
    fn drop(&mut self) {
        let _ = kubectl(self.0, &["delete", "peer", self.1, "--ignore-not-found"]);
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn mesh_pods_answer_from_every_node_and_pod() {
    let lab = lab().expect(NEEDS_LAB);
    for from in &lab.nodes {
        for to in &lab.nodes {
            let url = format!("http://{}/", to.pod_ip);
            for ns in [&from.netns, &from.pod_netns] {
                let body = http_get_within(ns, &url, Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("{ns} -> {} ({}): {e}", to.pod_name, to.pod_ip));
                assert_eq!(body, to.pod_name, "{ns} -> {url}");
            }
        }
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn mesh_services_are_balanced_by_kube_proxy_on_every_node() {
    let lab = lab().expect(NEEDS_LAB);
    let web = lab.service("default", "web").expect("web service");
    let ip = web.cluster_ip.clone().expect("web has a ClusterIP");
    let expected: BTreeSet<String> = web.pods.iter().cloned().collect();
    assert_eq!(expected.len(), 2, "web is backed by pods on two nodes");
    for node in &lab.nodes {
        let mut seen = BTreeSet::new();
        for _ in 0..40 {
            let body = http_get(&node.pod_netns, &format!("http://{ip}/"), QUICK).expect("web answers");
            seen.insert(body);
            if seen == expected {
                break;
            }
        }
        assert_eq!(seen, expected, "from {}", node.pod_netns);
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn cluster_dns_serves_services_headless_srv_and_ptr() {
    let lab = lab().expect(NEEDS_LAB);
    let from = &lab.nodes[lab.nodes.len() - 1].pod_netns;
    let dig = |args: &[&str]| {
        let mut all = vec!["+short", "+time=2", "+tries=1", "@10.43.0.10"];
        all.extend_from_slice(args);
        exec(from, "dig", &all).expect("dig runs")
    };
    assert_eq!(dig(&["web.default.svc.cluster.local"]).trim(), "10.43.0.80");
    let headless: BTreeSet<String> = dig(&["echo.default.svc.cluster.local"])
        .lines()
        .map(str::to_string)
        .collect();
    let pods: BTreeSet<String> = lab.nodes.iter().map(|n| n.pod_ip.clone()).collect();
    assert_eq!(headless, pods);
    assert_eq!(
        dig(&["SRV", "_http._tcp.web.default.svc.cluster.local"]).trim(),
        "0 100 80 web.default.svc.cluster.local."
    );
    let first = &lab.nodes[0];
    assert_eq!(
        dig(&["-x", &first.pod_ip]).trim(),
        format!("{}.echo.default.svc.cluster.local.", first.pod_name)
    );
    assert_eq!(
        dig(&["-x", "10.43.0.10"]).trim(),
        "kube-dns.kube-system.svc.cluster.local."
    );
    let status = exec(
        from,
        "dig",
        &[
            "+time=2",
            "+tries=1",
            "@10.43.0.10",
            "nope.default.svc.cluster.local",
        ],
    )
    .unwrap();
    assert!(status.contains("NXDOMAIN"), "{status}");
    let log = std::fs::read_to_string(&lab.dns_query_log).expect("query log");
    assert!(
        log.contains("web.default.svc.cluster.local"),
        "queries are logged"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn laptop_reaches_the_internet_and_the_api_but_nothing_inside_the_cluster() {
    let lab = lab().expect(NEEDS_LAB);
    let laptop = &lab.laptop_netns;
    for node in &lab.nodes {
        let public = node.endpoint.split(':').next().unwrap();
        assert!(
            ping(laptop, public),
            "the laptop pings {}'s public address",
            node.name
        );
        assert!(
            http_get(laptop, &format!("http://{}/", node.pod_ip), QUICK).is_err(),
            "pod {} reachable",
            node.pod_ip
        );
        assert!(!ping(laptop, &node.pod_ip), "pod {} pingable", node.pod_ip);
        assert!(
            !ping(laptop, &node.internal_ip),
            "internal IP {} pingable",
            node.internal_ip
        );
        if let Some(wg) = &node.wireguard_ip {
            assert!(
                !ping(laptop, wg.split('/').next().unwrap()),
                "Kilo IP {wg} pingable"
            );
        }
    }
    assert!(
        http_get(laptop, "http://10.43.0.80/", QUICK).is_err(),
        "service reachable without kubewire"
    );
    let routes = exec(laptop, "ip", &["route"]).unwrap();
    assert_eq!(
        routes.trim(),
        "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.100"
    );
    // The API server, as a cloud cluster's API is reachable over the internet.
    let kc = lab.kubeconfig.to_string_lossy().to_string();
    let nodes = exec(
        laptop,
        "kubectl",
        &[
            "--kubeconfig",
            &kc,
            "--request-timeout=10s",
            "get",
            "nodes",
            "-o",
            "name",
        ],
    )
    .unwrap();
    assert_eq!(nodes.lines().count(), lab.nodes.len());
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn api_shows_the_lab_to_kubectl_with_kilo_annotations() {
    let lab = lab().expect(NEEDS_LAB);
    let wide = kubectl(&lab, &["get", "nodes", "-o", "wide"]).unwrap();
    for node in &lab.nodes {
        let row = wide
            .lines()
            .find(|l| l.starts_with(&format!("{} ", node.name)))
            .unwrap_or_else(|| panic!("{wide}"));
        assert!(row.contains(&node.internal_ip), "{row}");
        let key = kubectl(
            &lab,
            &[
                "get",
                "node",
                &node.name,
                "-o",
                "jsonpath={.metadata.annotations.kilo\\.squat\\.ai/key}",
            ],
        )
        .unwrap();
        assert_eq!(key, node.public_key);
        let ep = kubectl(
            &lab,
            &[
                "get",
                "node",
                &node.name,
                "-o",
                "jsonpath={.metadata.annotations.kilo\\.squat\\.ai/endpoint}",
            ],
        )
        .unwrap();
        assert_eq!(ep, node.endpoint);
        let wg = kubectl(
            &lab,
            &[
                "get",
                "node",
                &node.name,
                "-o",
                "jsonpath={.metadata.annotations.kilo\\.squat\\.ai/wireguard-ip}",
            ],
        )
        .unwrap();
        assert_eq!(Some(wg).filter(|w| !w.is_empty()), node.wireguard_ip);
    }
    let svcs = kubectl(&lab, &["get", "services", "-A"]).unwrap();
    assert!(
        svcs.lines()
            .any(|l| l.contains("kube-dns") && l.contains("10.43.0.10")),
        "{svcs}"
    );
    kubectl(&lab, &["get", "crd", "peers.kilo.squat.ai"]).unwrap();
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn peer_created_with_kubectl_is_accepted_by_every_leader_and_removed_on_delete() {
    let lab = lab().expect(NEEDS_LAB);
    let (t, public) =
        kubewire_lab::testing::join_as_peer(&lab, "peer", Ipv4Addr::new(192, 0, 2, 201), "10.4.254.1", true)
            .unwrap();
    let manifest = std::env::temp_dir().join("kubewire-lab-test-peer.yaml");
    let _peer = DeletePeer(&lab, "lab-test-peer");
    std::fs::write(&manifest, format!(
        "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: lab-test-peer\nspec:\n  allowedIPs:\n  - 10.4.254.1/32\n  publicKey: {public}\n  persistentKeepalive: 10\n"
    )).unwrap();
    // Not yet a Peer: the leaders do not know the key, nothing answers.
    let first = &lab.nodes[0];
    assert!(http_get(&t.name, &format!("http://{}/", first.pod_ip), QUICK).is_err());

    kubectl(&lab, &["apply", "-f", &manifest.to_string_lossy()]).unwrap();
    for node in &lab.nodes {
        let body = http_get_within(
            &t.name,
            &format!("http://{}/", node.pod_ip),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("pod {} through the Peer: {e}", node.pod_name));
        assert_eq!(body, node.pod_name);
    }
    let web = http_get_within(&t.name, "http://10.43.0.80/", Duration::from_secs(5)).unwrap();
    assert!(
        lab.service("default", "web").unwrap().pods.contains(&web),
        "{web}"
    );
    for leader in lab.nodes.iter().filter(|n| n.leader) {
        let peers = exec(
            &leader.netns,
            "wg",
            &["show", &format!("kwg-{}", leader.name), "peers"],
        )
        .unwrap();
        assert!(peers.contains(&public), "{} accepted the Peer", leader.name);
    }

    kubectl(&lab, &["delete", "peer", "lab-test-peer"]).unwrap();
    let gone = wait_until(Duration::from_secs(10), || {
        lab.nodes.iter().filter(|n| n.leader).all(|l| {
            !exec(&l.netns, "wg", &["show", &format!("kwg-{}", l.name), "peers"])
                .unwrap_or_default()
                .contains(&public)
        })
    });
    assert!(gone, "leaders dropped the deleted Peer");
    assert!(http_get(&t.name, &format!("http://{}/", first.pod_ip), QUICK).is_err());
    let _ = std::fs::remove_file(manifest);
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn invalid_peers_are_ignored_as_kilo_does() {
    let lab = lab().expect(NEEDS_LAB);
    let manifest = std::env::temp_dir().join("kubewire-lab-bad-peer.yaml");
    let _peer = DeletePeer(&lab, "lab-bad-peer");
    std::fs::write(&manifest, "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: lab-bad-peer\nspec:\n  allowedIPs:\n  - 10.4.254.300/32\n  publicKey: bm90IGEga2V5\n").unwrap();
    kubectl(&lab, &["apply", "-f", &manifest.to_string_lossy()]).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let leader = lab.nodes.iter().find(|n| n.leader).unwrap();
    let peers = exec(
        &leader.netns,
        "wg",
        &["show", &format!("kwg-{}", leader.name), "peers"],
    )
    .unwrap();
    assert!(!peers.contains("bm90IGEga2V5"));
    // The mesh is unharmed.
    assert_eq!(
        http_get(
            &leader.netns,
            &format!("http://{}/", lab.nodes[lab.nodes.len() - 1].pod_ip),
            QUICK
        )
        .unwrap(),
        lab.nodes[lab.nodes.len() - 1].pod_name
    );
    kubectl(&lab, &["delete", "peer", "lab-bad-peer"]).unwrap();
    let _ = std::fs::remove_file(manifest);
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn nodes_join_move_go_stale_and_leave() {
    let lab = lab().expect(NEEDS_LAB);
    let watcher = &lab.nodes[0];
    let _restore = Restore(vec![Request::RemoveNode { name: "ovh".into() }]);
    let added = control(&Request::AddNode {
        name: "ovh".into(),
        location: "ovh".into(),
    })
    .unwrap()
    .lab
    .unwrap();
    let ovh = added.node("ovh").expect("ovh in lab.json").clone();
    assert_eq!(
        http_get_within(
            &watcher.netns,
            &format!("http://{}/", ovh.pod_ip),
            Duration::from_secs(5)
        )
        .unwrap(),
        "echo-ovh"
    );
    assert!(
        kubectl(&lab, &["get", "nodes", "-o", "name"])
            .unwrap()
            .contains("node/ovh")
    );

    let moved = control(&Request::SetEndpoint {
        name: "ovh".into(),
        ip: Ipv4Addr::new(192, 0, 2, 150),
    })
    .unwrap()
    .lab
    .unwrap();
    assert_eq!(moved.node("ovh").unwrap().endpoint, "192.0.2.150:51820");
    let ep = kubectl(
        &lab,
        &[
            "get",
            "node",
            "ovh",
            "-o",
            "jsonpath={.metadata.annotations.kilo\\.squat\\.ai/endpoint}",
        ],
    )
    .unwrap();
    assert_eq!(ep, "192.0.2.150:51820");
    assert!(ping(&lab.laptop_netns, "192.0.2.150"));
    assert_eq!(
        http_get_within(
            &watcher.netns,
            &format!("http://{}/", ovh.pod_ip),
            Duration::from_secs(5)
        )
        .unwrap(),
        "echo-ovh"
    );

    control(&Request::SetReady {
        name: "ovh".into(),
        ready: false,
    })
    .unwrap();
    let seen: u64 = kubectl(
        &lab,
        &[
            "get",
            "node",
            "ovh",
            "-o",
            "jsonpath={.metadata.annotations.kilo\\.squat\\.ai/last-seen}",
        ],
    )
    .unwrap()
    .parse()
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now - seen >= 60,
        "a stale node's last-seen is outside Kilo's 60 s window"
    );
    assert!(
        http_get(&watcher.netns, &format!("http://{}/", ovh.pod_ip), QUICK).is_err(),
        "stale node left the mesh"
    );
    control(&Request::SetReady {
        name: "ovh".into(),
        ready: true,
    })
    .unwrap();
    assert_eq!(
        http_get_within(
            &watcher.netns,
            &format!("http://{}/", ovh.pod_ip),
            Duration::from_secs(5)
        )
        .unwrap(),
        "echo-ovh"
    );

    assert!(
        control(&Request::AddNode {
            name: "ovh".into(),
            location: "ovh".into()
        })
        .is_err(),
        "duplicate refused"
    );
    let after = control(&Request::RemoveNode { name: "ovh".into() })
        .unwrap()
        .lab
        .unwrap();
    assert!(after.node("ovh").is_none());
    assert!(
        !kubectl(&lab, &["get", "nodes", "-o", "name"])
            .unwrap()
            .contains("node/ovh")
    );
    let namespaces = exec(&lab.laptop_netns, "ip", &["netns", "list"]).unwrap();
    assert!(!namespaces.contains("kw-n-ovh") && !namespaces.contains("kw-p-ovh"));
    let routes = exec(&watcher.netns, "ip", &["route"]).unwrap();
    assert!(
        !routes.contains(&ovh.pod_cidr),
        "route to the removed node's pods is gone: {routes}"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn mesh_member_joins_a_location_and_leadership_moves() {
    let lab = lab().expect(NEEDS_LAB);
    let location = lab.nodes[0].location.clone();
    let name = format!("{location}-9");
    let from = lab
        .nodes
        .iter()
        .find(|n| n.location != location)
        .expect("another location");
    let _restore = Restore(vec![Request::RemoveNode { name: name.clone() }]);
    let added = control(&Request::AddNode {
        name: name.clone(),
        location: location.clone(),
    })
    .unwrap()
    .lab
    .unwrap();
    let member = added.node(&name).unwrap().clone();
    let old_leader = added
        .nodes
        .iter()
        .find(|n| n.location == location && n.leader)
        .unwrap()
        .clone();
    if added.granularity == "location" {
        assert!(!member.leader, "{name} sorts after the leader");
    }
    let url = format!("http://{}/", member.pod_ip);
    assert_eq!(
        http_get_within(&from.netns, &url, Duration::from_secs(5)).unwrap(),
        member.pod_name
    );

    let elected = control(&Request::SetLeader { name: name.clone() })
        .unwrap()
        .lab
        .unwrap();
    assert!(elected.node(&name).unwrap().leader, "the annotated node leads");
    if elected.granularity == "location" {
        assert!(!elected.node(&old_leader.name).unwrap().leader);
        assert_eq!(
            elected.node(&name).unwrap().wireguard_ip,
            old_leader.wireguard_ip,
            "the segment keeps its Kilo IP"
        );
    }
    for n in elected.nodes.iter().filter(|n| n.location == location) {
        let body = http_get_within(
            &from.netns,
            &format!("http://{}/", n.pod_ip),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(body, n.pod_name);
    }
    control(&Request::RemoveNode { name: name.clone() }).unwrap();
    let back = kubewire_lab::testing::lab().expect(NEEDS_LAB);
    assert!(back.node(&old_leader.name).unwrap().leader, "leadership returns");
    assert_eq!(
        http_get(&from.netns, &format!("http://{}/", old_leader.pod_ip), QUICK).unwrap(),
        old_leader.pod_name
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn api_server_stops_and_starts_while_the_network_stays() {
    let lab = lab().expect(NEEDS_LAB);
    let _restore = Restore(vec![Request::ApiStart]);
    control(&Request::ApiStop).unwrap();
    let err = kubectl(&lab, &["get", "nodes"]).unwrap_err();
    assert!(err.contains("refused") || err.contains("connect"), "{err}");
    let a = &lab.nodes[0];
    let b = &lab.nodes[lab.nodes.len() - 1];
    assert_eq!(
        http_get(&a.netns, &format!("http://{}/", b.pod_ip), QUICK).unwrap(),
        b.pod_name
    );
    control(&Request::ApiStart).unwrap();
    assert!(wait_until(Duration::from_secs(10), || kubectl(
        &lab,
        &["get", "nodes"]
    )
    .is_ok()));
    // The Kilo stand-in's watch came back too: a new Peer still reaches the leaders.
    let (_, public) = keys::generate();
    let manifest = std::env::temp_dir().join("kubewire-lab-api-peer.yaml");
    let _peer = DeletePeer(&lab, "lab-api-peer");
    std::fs::write(&manifest, format!("apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: lab-api-peer\nspec:\n  allowedIPs:\n  - 10.4.254.9/32\n  publicKey: {public}\n")).unwrap();
    kubectl(&lab, &["apply", "-f", &manifest.to_string_lossy()]).unwrap();
    let leader = lab.nodes.iter().find(|n| n.leader).unwrap();
    let wg = format!("kwg-{}", leader.name);
    assert!(wait_until(Duration::from_secs(15), || exec(
        &leader.netns,
        "wg",
        &["show", &wg, "peers"]
    )
    .unwrap_or_default()
    .contains(&public)));
    kubectl(&lab, &["delete", "peer", "lab-api-peer"]).unwrap();
    let _ = std::fs::remove_file(manifest);
}
