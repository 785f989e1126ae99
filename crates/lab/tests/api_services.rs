#![allow(clippy::unwrap_used)]

//! Services created through the lab's API reach a server on a laptop (issue 17): what `kubewire
//! expose` creates (a Service without a selector and an EndpointSlice naming the laptop's Kilo Peer
//! address, outside the pod range), applied with `kubectl apply --server-side`, is served by the
//! lab's kube-proxy and cluster DNS on every node. `cargo xtask test` runs this on the default lab;
//! by hand: `kubewire-lab up` then
//! `cargo test -p kubewire-lab --test api_services -- --ignored --test-threads=1`.
//! The test leaves the lab as it found it (a node it adds, the Peer, the namespace: removed on drop).
//!
//! Pods have no resolv.conf of their own in the lab, so a pod resolves the name by asking the
//! cluster DNS (`dig @10.43.0.10`) and curl connects to the name with that answer (`--resolve`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kubewire_lab::control::Request;
use kubewire_lab::desc::LabDescription;
use kubewire_lab::testing::{Restore, control, exec, kubectl, lab, wait_until};

const NEEDS_LAB: &str = "needs the lab: cargo xtask test";
const NS: &str = "expose-test";
const NAME: &str = "laptop-web";
const FQDN: &str = "laptop-web.expose-test.svc.cluster.local";
/// The laptop's Kilo Peer address: in the Kilo subnet, outside the pod range.
const LAPTOP_IP: &str = "10.4.0.100";
/// The page the laptop's server serves.
const PAGE: &str = "served-from-the-laptop";

/// Deletes the test's API objects (Peer, Service, slice, namespace) even when the test fails.
struct Cleanup<'a>(&'a LabDescription);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for args in [
            &["delete", "peer", "expose-laptop", "--ignore-not-found"][..],
            &[
                "delete",
                "-n",
                NS,
                "endpointslice",
                "laptop-web-kubewire",
                "--ignore-not-found",
            ][..],
            &["delete", "-n", NS, "service", NAME, "--ignore-not-found"][..],
            &["delete", "namespace", NS, "--ignore-not-found"][..],
        ] {
            let _ = kubectl(self.0, args);
        }
    }
}

/// The cluster DNS's A answer for `name`, asked from `netns` (empty when the name does not exist).
fn resolve(netns: &str, name: &str) -> String {
    exec(
        netns,
        "dig",
        &["+short", "+time=2", "+tries=1", "@10.43.0.10", name, "A"],
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_default()
}

/// `curl http://FQDN:port/` from `netns`, the name resolved to `ip` (the cluster DNS's answer).
fn curl_name(netns: &str, ip: &str, port: u16) -> Result<String, String> {
    let resolve = format!("{FQDN}:{port}:{ip}");
    // The query marks the request as one through the Service in the laptop's access log.
    let url = format!("http://{FQDN}:{port}/?via=service");
    curl(netns, &["--resolve", &resolve, &url])
}

fn curl(netns: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-sS", "--fail", "--connect-timeout", "2", "--max-time", "3"];
    all.extend_from_slice(args);
    exec(netns, "curl", &all).map(|b| b.trim().to_string())
}

fn manifest(ip: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: v1
kind: Service
metadata:
  name: {NAME}
  namespace: {NS}
  labels:
    app.kubernetes.io/managed-by: kubewire
    kubewire.dev/peer: expose-laptop
spec:
  ports:
  - name: tcp-8080
    port: 8080
    targetPort: 8080
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {NAME}-kubewire
  namespace: {NS}
  labels:
    kubernetes.io/service-name: {NAME}
    endpointslice.kubernetes.io/managed-by: kubewire.dev
    app.kubernetes.io/managed-by: kubewire
addressType: IPv4
endpoints:
- addresses: [\"{ip}\"]
  conditions:
    ready: true
ports:
- name: tcp-8080
  port: 8080
  protocol: TCP
"
    )
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_service_created_through_the_api_reaches_a_kilo_peer_from_every_location() {
    let before = lab().expect(NEEDS_LAB);
    // A fifth location, bare metal, beside the clouds (removed again on drop).
    let _node = Restore(vec![Request::RemoveNode {
        name: "baremetal".into(),
    }]);
    let added = control(&Request::AddNode {
        name: "baremetal".into(),
        location: "baremetal".into(),
    })
    .expect("lab control");
    assert!(added.ok, "adding node baremetal: {added:?}");
    let lab = lab().expect(NEEDS_LAB);
    assert!(lab.nodes.len() > before.nodes.len());
    let _cleanup = Cleanup(&lab);

    // The laptop: a Kilo Peer at 10.4.0.100 serving HTTP on 8080 (python, which logs the client's
    // address) and on 9090 (a port the Service does not have).
    let (mut t, public) =
        kubewire_lab::testing::join_as_peer(&lab, "expose", Ipv4Addr::new(192, 0, 2, 211), LAPTOP_IP, false)
            .unwrap();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), format!("{PAGE}\n")).unwrap();
    let access_log = www.path().join("access.log");
    let serve = format!(
        "exec /usr/bin/python3 -m http.server 8080 --bind {LAPTOP_IP} --directory {} 2>>{}",
        www.path().display(),
        access_log.display()
    );
    t.spawn("sh", &["-c", &serve], &[]).unwrap();
    let other = format!("{LAPTOP_IP}:9090");
    t.spawn(
        env!("CARGO_BIN_EXE_kubewire-lab"),
        &["pod-http", "--name", "not-exposed", "--listen", &other],
        &[],
    )
    .unwrap();
    let peer = std::env::temp_dir().join("kubewire-lab-expose-peer.yaml");
    std::fs::write(&peer, format!(
        "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: expose-laptop\nspec:\n  allowedIPs:\n  - {LAPTOP_IP}/32\n  publicKey: {public}\n  persistentKeepalive: 10\n"
    )).unwrap();
    kubectl(&lab, &["apply", "-f", &peer.to_string_lossy()]).unwrap();
    let _ = std::fs::remove_file(&peer);

    // Precondition: every pod reaches the laptop's address itself, on both ports.
    for node in &lab.nodes {
        let ok = wait_until(Duration::from_secs(15), || {
            curl(&node.pod_netns, &[&format!("http://{LAPTOP_IP}:8080/")]).as_deref() == Ok(PAGE)
        });
        assert!(
            ok,
            "pod {} never reached the Peer at {LAPTOP_IP}:8080",
            node.pod_name
        );
        assert_eq!(
            curl(&node.pod_netns, &[&format!("http://{other}/")]).unwrap(),
            "not-exposed"
        );
        assert_eq!(resolve(&node.pod_netns, FQDN), "", "no such Service yet");
    }

    // What `kubewire expose` creates, by server-side apply.
    let file = std::env::temp_dir().join("kubewire-lab-expose.yaml");
    std::fs::write(&file, manifest(LAPTOP_IP)).unwrap();
    let applied_at = Instant::now();
    let out = kubectl(
        &lab,
        &[
            "apply",
            "--server-side",
            "--field-manager=kubewire",
            "-f",
            &file.to_string_lossy(),
        ],
    )
    .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.contains("endpointslice.discovery.k8s.io/laptop-web-kubewire serverside-applied"),
        "{out}"
    );
    let cluster_ip = kubectl(
        &lab,
        &["get", "svc", NAME, "-n", NS, "-o", "jsonpath={.spec.clusterIP}"],
    )
    .unwrap();
    assert!(cluster_ip.starts_with("10.43."), "{cluster_ip}");

    // From a pod on every location: the name resolves to the ClusterIP and curl by name answers
    // with the laptop's page; the laptop saw the pod's own address.
    let mut first_answer = None;
    for node in &lab.nodes {
        let resolved = wait_until(Duration::from_secs(10), || {
            resolve(&node.pod_netns, FQDN) == cluster_ip
        });
        assert!(
            resolved,
            "{FQDN} from pod {}: {:?}",
            node.pod_name,
            resolve(&node.pod_netns, FQDN)
        );
        let answered = wait_until(Duration::from_secs(10), || {
            curl_name(&node.pod_netns, &cluster_ip, 8080).as_deref() == Ok(PAGE)
        });
        assert!(
            answered,
            "curl http://{FQDN}:8080/ from pod {} ({}): {:?}",
            node.pod_name,
            node.location,
            curl_name(&node.pod_netns, &cluster_ip, 8080)
        );
        first_answer.get_or_insert(applied_at.elapsed());
        let log = std::fs::read_to_string(&access_log).unwrap_or_default();
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("{} ", node.pod_ip)) && l.contains("GET /?via=service ")),
            "the laptop saw pod {}'s address {} as the source:\n{log}",
            node.pod_name,
            node.pod_ip
        );
        // A port the Service does not have is not DNATed (the laptop does listen on it).
        assert!(
            curl(&node.pod_netns, &[&format!("http://{cluster_ip}:9090/")]).is_err(),
            "{cluster_ip}:9090 answered from pod {}",
            node.pod_name
        );
    }
    eprintln!(
        "api_services: first answer by name {:?} after the apply; {} locations answered",
        first_answer.unwrap_or_default(),
        lab.nodes.len()
    );

    // Deleted: the name stops resolving and the ClusterIP stops answering (the laptop still does).
    let deleted_at = Instant::now();
    kubectl(
        &lab,
        &["delete", "-n", NS, "endpointslice", &format!("{NAME}-kubewire")],
    )
    .unwrap();
    kubectl(&lab, &["delete", "-n", NS, "service", NAME]).unwrap();
    let mut first_gone = None;
    for node in &lab.nodes {
        let gone = wait_until(Duration::from_secs(10), || {
            resolve(&node.pod_netns, FQDN).is_empty()
        });
        assert!(gone, "{FQDN} still resolves from pod {}", node.pod_name);
        first_gone.get_or_insert(deleted_at.elapsed());
        let closed = wait_until(Duration::from_secs(10), || {
            curl(&node.pod_netns, &[&format!("http://{cluster_ip}:8080/")]).is_err()
        });
        assert!(
            closed,
            "{cluster_ip}:8080 still answers from pod {}",
            node.pod_name
        );
        assert_eq!(
            curl(&node.pod_netns, &[&format!("http://{LAPTOP_IP}:8080/")]).unwrap(),
            PAGE,
            "the laptop itself still answers"
        );
    }
    eprintln!(
        "api_services: name gone {:?} after the delete; name and ClusterIP checked gone on every \
         node after {:?} (each refused curl waits out its 2 s connect timeout)",
        first_gone.unwrap_or_default(),
        deleted_at.elapsed()
    );
}
