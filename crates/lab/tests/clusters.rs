#![allow(clippy::unwrap_used)]

//! Tests against a lab of two clusters: `cargo xtask test` brings one up with `--clusters 2`, runs
//! these one at a time, takes it down. By hand: `kubewire-lab up --clusters 2` then
//! `cargo test -p kubewire-lab --test clusters -- --ignored --test-threads=1`.
//! Cluster `b` has `a`'s ranges and domain, its own nodes (`b-aws`, ...), API server and DNS, and a
//! change in one cluster is never seen in the other. Every test leaves the lab as it found it.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kubewire_lab::clusters::ClusterId;
use kubewire_lab::control::Request;
use kubewire_lab::desc::LabDescription;
use kubewire_lab::keys;
use kubewire_lab::testing::{Restore, exec, http_get, http_get_within, lab, lab_dir, ping, wait_until};

const NEEDS_LAB: &str = "needs a lab of two clusters: cargo xtask lab up --clusters 2";
const QUICK: Duration = Duration::from_secs(2);

/// The running lab and its clusters `a` and `b`.
fn clusters() -> (LabDescription, LabDescription, LabDescription) {
    let lab = lab().expect(NEEDS_LAB);
    let a = lab.cluster(ClusterId::A).expect(NEEDS_LAB).clone();
    let b = lab.cluster(ClusterId::B).expect(NEEDS_LAB).clone();
    (lab, a, b)
}

/// `kubectl --context CONTEXT args…` with the lab's kubeconfig, from namespace `netns` (or the host).
fn kubectl(
    lab: &LabDescription,
    netns: Option<&str>,
    context: &str,
    args: &[&str],
) -> Result<String, String> {
    let kc = lab.kubeconfig.to_string_lossy().to_string();
    let mut all = vec![
        "--kubeconfig",
        kc.as_str(),
        "--context",
        context,
        "--request-timeout=5s",
    ];
    all.extend_from_slice(args);
    match netns {
        Some(ns) => exec(ns, "kubectl", &all),
        None => {
            let out = Command::new("kubectl")
                .args(&all)
                .output()
                .map_err(|e| format!("kubectl: {e}"))?;
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        }
    }
}

fn node_names(lab: &LabDescription, netns: Option<&str>, context: &str) -> BTreeSet<String> {
    kubectl(lab, netns, context, &["get", "nodes", "-o", "name"])
        .unwrap_or_else(|e| panic!("kubectl --context {context}: {e}"))
        .lines()
        .map(|l| l.trim_start_matches("node/").to_string())
        .collect()
}

fn names(cluster: &LabDescription) -> BTreeSet<String> {
    cluster.nodes.iter().map(|n| n.name.clone()).collect()
}

/// `kubewire-lab ARGS…` on the running lab, as a person types it.
fn lab_cli(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_kubewire-lab"))
        .arg("--dir")
        .arg(lab_dir())
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() { Ok(text) } else { Err(text) }
}

#[test]
#[ignore = "needs a lab of two clusters: cargo xtask test"]
fn lab_json_keeps_a_at_the_top_and_lists_both_clusters_with_the_same_ranges() {
    let (lab, a, b) = clusters();
    assert_eq!(lab.clusters.len(), 2);
    assert_eq!(
        (lab.clusters[0].context.as_str(), lab.clusters[1].context.as_str()),
        ("kubewire-lab", "kubewire-lab-b")
    );
    let mut top = lab.clone();
    top.clusters.clear();
    assert_eq!(top, a, "the top level describes cluster a");
    for (what, x, y) in [
        ("service CIDR", &a.service_cidr, &b.service_cidr),
        ("pod range", &a.pod_cidr, &b.pod_cidr),
        ("Kilo subnet", &a.kilo_subnet, &b.kilo_subnet),
        ("cluster DNS", &a.cluster_dns, &b.cluster_dns),
        ("cluster domain", &a.cluster_domain, &b.cluster_domain),
        ("laptop", &a.laptop_netns, &b.laptop_netns),
    ] {
        assert_eq!(x, y, "{what}");
    }
    assert_eq!(a.kubeconfig, b.kubeconfig, "one kubeconfig");
    assert_ne!(a.api_server, b.api_server);
    let expected: BTreeSet<String> = a.nodes.iter().map(|n| format!("b-{}", n.name)).collect();
    assert_eq!(names(&b), expected);
    for nb in &b.nodes {
        let na = a.node(&nb.name["b-".len()..]).unwrap();
        assert_eq!(
            (&nb.pod_cidr, &nb.pod_ip),
            (&na.pod_cidr, &na.pod_ip),
            "{}",
            nb.name
        );
        assert_eq!(nb.pod_name, format!("echo-{}", nb.name));
        assert_ne!(
            nb.endpoint, na.endpoint,
            "{} needs a public address of its own",
            nb.name
        );
    }
    let contexts = kubectl(
        &lab,
        None,
        "kubewire-lab",
        &["config", "get-contexts", "-o", "name"],
    )
    .unwrap();
    assert_eq!(
        contexts.lines().collect::<BTreeSet<_>>(),
        BTreeSet::from(["kubewire-lab", "kubewire-lab-b"])
    );
    // `lab status` shows both.
    let status = lab_cli(&["status"]).unwrap();
    assert!(
        status.contains("context kubewire-lab-b")
            && status.contains("b-aws")
            && status.contains("127.0.0.1:6444"),
        "{status}"
    );
}

#[test]
#[ignore = "needs a lab of two clusters: cargo xtask test"]
fn both_api_servers_answer_with_their_own_nodes_from_the_host_and_the_laptop() {
    let (lab, a, b) = clusters();
    for netns in [None, Some(lab.laptop_netns.as_str())] {
        assert_eq!(node_names(&lab, netns, "kubewire-lab"), names(&a), "{netns:?}");
        assert_eq!(node_names(&lab, netns, "kubewire-lab-b"), names(&b), "{netns:?}");
    }
    // b's API server stops and starts on its own; a's keeps answering.
    let _restore = Restore(vec![Request::ApiStart.in_cluster(ClusterId::B)]);
    lab_cli(&["api", "stop", "--cluster", "b"]).unwrap();
    assert!(kubectl(&lab, None, "kubewire-lab-b", &["get", "nodes"]).is_err());
    assert_eq!(node_names(&lab, None, "kubewire-lab"), names(&a));
    lab_cli(&["api", "start", "--cluster", "b"]).unwrap();
    assert_eq!(node_names(&lab, None, "kubewire-lab-b"), names(&b));
}

#[test]
#[ignore = "needs a lab of two clusters: cargo xtask test"]
fn each_clusters_pods_dns_and_services_answer_as_their_own() {
    let (lab, a, b) = clusters();
    for cluster in [&a, &b] {
        let from = &cluster.nodes[0];
        for to in &cluster.nodes {
            let body = http_get_within(&from.pod_netns, &format!("http://{}/", to.pod_ip), QUICK)
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", from.pod_netns, to.pod_name));
            assert_eq!(body, to.pod_name);
        }
        // The service address is the same in both; each cluster's kube-proxy sends it to its own pods.
        let web = http_get(&from.netns, "http://10.43.0.80/", QUICK).unwrap();
        assert!(
            cluster.service("default", "web").unwrap().pods.contains(&web),
            "{web} from {}",
            from.netns
        );
        // Each cluster's DNS names its own pods.
        let ptr = exec(
            &from.pod_netns,
            "dig",
            &["+short", "+time=2", "+tries=1", "@10.43.0.10", "-x", &from.pod_ip],
        )
        .unwrap();
        assert_eq!(
            ptr.trim(),
            format!("{}.echo.default.svc.cluster.local.", from.pod_name)
        );
    }
    assert!(b.nodes.iter().all(|n| n.pod_name.starts_with("echo-b-")));
    // The laptop reaches b's nodes over the underlay as it reaches a's, and nothing inside either.
    for node in &b.nodes {
        assert!(
            ping(&lab.laptop_netns, node.endpoint.split(':').next().unwrap()),
            "{}",
            node.name
        );
    }
    assert!(
        http_get(
            &lab.laptop_netns,
            &format!("http://{}/", b.nodes[0].pod_ip),
            QUICK
        )
        .is_err()
    );
    // Each cluster's DNS logs its own queries.
    assert_ne!(a.dns_query_log, b.dns_query_log);
    let log = std::fs::read_to_string(&b.dns_query_log).unwrap();
    assert!(log.contains("in-addr.arpa"), "{log}");
}

#[test]
#[ignore = "needs a lab of two clusters: cargo xtask test"]
fn a_node_joins_b_and_a_peer_registers_in_b_while_a_is_untouched() {
    let (lab, a, _) = clusters();
    let _restore = Restore(vec![
        Request::RemoveNode { name: "b-ovh".into() }.in_cluster(ClusterId::B),
    ]);
    // Names keep the clusters apart on the one machine.
    let refused = lab_cli(&["node", "add", "ovh", "--location", "ovh", "--cluster", "b"]).unwrap_err();
    assert!(refused.contains("start with \"b-\""), "{refused}");
    let refused = lab_cli(&["node", "add", "b-aws", "--location", "aws"]).unwrap_err();
    assert!(refused.contains("already exists (in cluster b)"), "{refused}");
    let a_address = a.nodes[0].endpoint.split(':').next().unwrap();
    let refused = lab_cli(&["node", "set-endpoint", "b-aws", a_address, "--cluster", "b"]).unwrap_err();
    assert!(refused.contains("not a free underlay address"), "{refused}");

    let said = lab_cli(&["node", "add", "b-ovh", "--location", "ovh", "--cluster", "b"]).unwrap();
    assert!(said.contains("node b-ovh joined in ovh"), "{said}");
    let (lab_now, a_now, b_now) = clusters();
    assert_eq!(a_now, a, "cluster a's description changed");
    assert!(node_names(&lab_now, None, "kubewire-lab-b").contains("b-ovh"));
    assert_eq!(node_names(&lab_now, None, "kubewire-lab"), names(&a));
    let ovh = b_now.node("b-ovh").unwrap();
    let from = &b_now.node("b-aws").unwrap().pod_netns;
    let body = http_get_within(from, &format!("http://{}/", ovh.pod_ip), Duration::from_secs(10)).unwrap();
    assert_eq!(body, "echo-b-ovh");
    assert!(ping(&lab.laptop_netns, ovh.endpoint.split(':').next().unwrap()));

    // A Peer registered in b is configured on b's leaders only.
    let (_, public) = keys::generate();
    let manifest = std::env::temp_dir().join("kubewire-lab-clusters-peer.yaml");
    std::fs::write(&manifest, format!(
        "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: clusters-test-peer\nspec:\n  allowedIPs:\n  - 10.4.254.2/32\n  publicKey: {public}\n"
    ))
    .unwrap();
    struct DeletePeer<'a>(&'a LabDescription);
    impl Drop for DeletePeer<'_> {
        fn drop(&mut self) {
            let _ = kubectl(
                self.0,
                None,
                "kubewire-lab-b",
                &["delete", "peer", "clusters-test-peer", "--ignore-not-found"],
            );
        }
    }
    let _peer = DeletePeer(&lab);
    kubectl(
        &lab,
        None,
        "kubewire-lab-b",
        &["apply", "-f", &manifest.to_string_lossy()],
    )
    .unwrap();
    let peers_of = |netns: &str, ifname: &str| exec(netns, "wg", &["show", ifname, "peers"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || peers_of("kw-n-b-aws", "kwg-b-aws")
            .contains(&public)),
        "b's leader b-aws never took the Peer"
    );
    assert!(
        !peers_of("kw-n-aws", "kwg-aws").contains(&public),
        "a's leader took b's Peer"
    );
    assert!(
        kubectl(&lab, None, "kubewire-lab", &["get", "peers", "-o", "name"])
            .unwrap()
            .trim()
            .is_empty()
    );
}
