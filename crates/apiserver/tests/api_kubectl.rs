//! The API test server driven by the real `kubectl` (std::process::Command, a timeout on every call).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod api_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use api_support::{TestServer, node, start_server};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A test server on its own multi-threaded runtime, so the tests can block on kubectl.
struct Lab {
    rt: tokio::runtime::Runtime,
    ts: TestServer,
}

impl Lab {
    fn start() -> Lab {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ts = rt.block_on(start_server());
        ts.store.create(node("aws", "192.168.10.1")).unwrap();
        let mut gcp = node("gcp", "192.168.20.1");
        gcp["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("kilo.squat.ai/location");
        ts.store.create(gcp).unwrap();
        Lab { rt, ts }
    }

    fn command(&self, args: &[&str]) -> Command {
        // `KUBECTL` picks another binary (e.g. Debian's 1.20 kubernetes-client) for the same tests.
        let mut cmd = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()));
        cmd.arg("--kubeconfig").arg(&self.ts.kubeconfig_path).args(args);
        cmd.env_remove("KUBECONFIG").env("HOME", self.ts.dir.path());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> std::process::Child {
        match self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("kubectl is not installed: run `cargo xtask setup` (it installs kubectl)")
            }
            Err(e) => panic!("running kubectl: {e}"),
        }
    }

    /// Runs kubectl to completion, killing it (by PID) after `TIMEOUT`.
    fn kubectl(&self, args: &[&str]) -> Output {
        let child = self.spawn(args);
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(TIMEOUT) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!("kubectl {args:?} did not finish within {TIMEOUT:?}");
            }
        }
    }

    /// Runs kubectl and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{stdout}\n{stderr}",
            out.status
        );
        stdout
    }
}

fn row<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{out}"))
        .split_whitespace()
        .collect()
}

#[test]
fn get_nodes_wide_shows_internal_ips() {
    let lab = Lab::start();
    let out = lab.ok(&["get", "nodes", "-o", "wide"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let aws = row(&out, "aws");
    assert_eq!(&aws[..2], ["aws", "Ready"]);
    assert!(aws.contains(&"192.168.10.1"), "{out}");
    assert!(row(&out, "gcp").contains(&"192.168.20.1"), "{out}");
    assert!(aws.contains(&"v1.33.0+k3s1"));

    // Without -o wide the priority-1 columns are hidden; single objects and other kinds print too.
    let narrow = lab.ok(&["get", "nodes"]);
    assert!(
        !narrow.contains("INTERNAL-IP") && narrow.contains("aws"),
        "{narrow}"
    );
    let one = lab.ok(&[
        "get",
        "node",
        "gcp",
        "-o",
        "jsonpath={.status.addresses[0].address}",
    ]);
    assert_eq!(one, "192.168.20.1");
    assert!(lab.ok(&["get", "namespaces"]).contains("kube-system"));
    let out = lab.ok(&["describe", "node", "aws"]);
    assert!(
        out.contains("kilo.squat.ai/endpoint: 192.168.10.1:51820"),
        "{out}"
    );

    // Pods the lab registers print like kube-apiserver's.
    lab.ts
        .store
        .create(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-aws", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "aws", "containers": [{"name": "web", "image": "kubewire/pod"}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5",
                       "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0}]},
        }))
        .unwrap();
    let out = lab.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(&row(&out, "web-aws")[..3], ["web-aws", "1/1", "Running"]);
    assert!(
        row(&out, "web-aws").contains(&"10.42.0.5") && row(&out, "web-aws").contains(&"aws"),
        "{out}"
    );
    assert!(lab.ok(&["get", "crd"]).contains("peers.kilo.squat.ai"));
}

#[test]
fn annotate_node_reaches_the_store() {
    let lab = Lab::start();
    let out = lab.ok(&["annotate", "node", "gcp", "kilo.squat.ai/location=foo"]);
    assert!(out.contains("node/gcp annotate"), "{out}"); // 1.27 prints "annotate"
    let stored = lab.ts.store.get("v1", "Node", None, "gcp").unwrap();
    assert_eq!(stored["metadata"]["annotations"]["kilo.squat.ai/location"], "foo");

    // Like kubectl against a real server: an existing value needs --overwrite.
    let out = lab.kubectl(&["annotate", "node", "aws", "kilo.squat.ai/location=bar"]);
    assert!(!out.status.success());
    lab.ok(&[
        "annotate",
        "node",
        "aws",
        "--overwrite",
        "kilo.squat.ai/location=bar",
    ]);
    let stored = lab.ts.store.get("v1", "Node", None, "aws").unwrap();
    assert_eq!(stored["metadata"]["annotations"]["kilo.squat.ai/location"], "bar");
}

const PEER_YAML: &str = "apiVersion: kilo.squat.ai/v1alpha1
kind: Peer
metadata:
  name: laptop
spec:
  allowedIPs:
  - 10.5.0.1/32
  publicKey: GY5aT1N9dTR/nJnT1N2f4ClZWVj0jOAld0r8ysWLyjg=
  persistentKeepalive: 10
";

#[test]
fn apply_get_and_delete_peers() {
    let lab = Lab::start();
    let out = lab.kubectl(&["get", "peers.kilo.squat.ai"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"));

    let file = lab.ts.dir.path().join("peer.yaml");
    std::fs::write(&file, PEER_YAML).unwrap();
    let f = file.to_str().unwrap();
    let out = lab.ok(&["apply", "-f", f]);
    assert!(out.contains("peer.kilo.squat.ai/laptop created"), "{out}");
    let stored = lab
        .ts
        .store
        .get("kilo.squat.ai/v1alpha1", "Peer", None, "laptop")
        .unwrap();
    assert_eq!(stored["spec"]["allowedIPs"], json!(["10.5.0.1/32"]));

    std::fs::write(
        &file,
        PEER_YAML
            .replace("10.5.0.1/32", "10.5.0.2/32")
            .replace("  persistentKeepalive: 10\n", ""),
    )
    .unwrap();
    let out = lab.ok(&["apply", "-f", f]);
    assert!(out.contains("peer.kilo.squat.ai/laptop configured"), "{out}");
    let stored = lab
        .ts
        .store
        .get("kilo.squat.ai/v1alpha1", "Peer", None, "laptop")
        .unwrap();
    assert_eq!(stored["spec"]["allowedIPs"], json!(["10.5.0.2/32"]));
    assert!(
        stored["spec"].get("persistentKeepalive").is_none(),
        "removed from the file, removed by apply"
    );
    assert!(lab.ok(&["apply", "-f", f]).contains("unchanged"));

    let out = lab.ok(&["get", "peers.kilo.squat.ai"]);
    assert_eq!(&row(&out, "laptop")[..2], ["laptop", "10.5.0.2/32"]);
    let wide = lab.ok(&["get", "peer", "-o", "wide"]);
    assert!(
        wide.contains("GY5aT1N9dTR/nJnT1N2f4ClZWVj0jOAld0r8ysWLyjg="),
        "{wide}"
    );

    let out = lab.ok(&["delete", "peer", "laptop"]);
    assert!(out.contains("peer.kilo.squat.ai \"laptop\" deleted"), "{out}");
    assert!(
        lab.ts
            .store
            .get("kilo.squat.ai/v1alpha1", "Peer", None, "laptop")
            .is_none()
    );
    let out = lab.kubectl(&["delete", "peer", "laptop"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
}

#[test]
fn apply_updates_a_service_with_strategic_merge() {
    let lab = Lab::start();
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  clusterIP: 10.43.0.20\n  ports:\n  - port: 80\n    protocol: TCP\n";
    let file = lab.ts.dir.path().join("svc.yaml");
    std::fs::write(&file, yaml).unwrap();
    let f = file.to_str().unwrap();
    assert!(lab.ok(&["apply", "-f", f]).contains("service/web created"));
    std::fs::write(&file, yaml.replace("port: 80", "port: 8080")).unwrap();
    assert!(lab.ok(&["apply", "-f", f]).contains("service/web configured"));
    let svc = lab.ts.store.get("v1", "Service", Some("default"), "web").unwrap();
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"port": 8080, "protocol": "TCP", "targetPort": 8080}])
    );
    let out = lab.ok(&["get", "svc", "-A"]);
    assert!(row(&out, "default").contains(&"8080/TCP"), "{out}");
}

#[test]
fn get_nodes_watch_prints_changes() {
    let lab = Lab::start();
    let mut child = lab.spawn(&["get", "nodes", "--watch"]);
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &dyn Fn(&str) -> bool, label: &str| {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if what(&line) => return line,
                Ok(_) => {}
                Err(_) => {
                    let _ = kill(pid, Signal::SIGKILL);
                    panic!("kubectl get --watch never printed {label}");
                }
            }
        }
    };
    wait_for(&|l| l.starts_with("gcp "), "the initial gcp row");

    lab.ts
        .store
        .update("v1", "Node", None, "aws", |n| {
            n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("true");
        })
        .unwrap();
    let line = wait_for(
        &|l| l.starts_with("aws ") && l.contains("control-plane"),
        "the modified aws row",
    );
    assert!(line.contains("Ready"), "{line}");
    lab.ts.store.create(node("azure", "192.168.30.1")).unwrap();
    wait_for(&|l| l.starts_with("azure "), "the added azure row");

    kill(pid, Signal::SIGTERM).unwrap();
    let _ = child.wait();
    drop(lab.rt);
}

#[test]
fn auth_can_i_follows_forbidden_verbs() {
    let lab = Lab::start();
    assert_eq!(
        lab.ok(&["auth", "can-i", "create", "peers.kilo.squat.ai"]).trim(),
        "yes"
    );
    lab.ts.store.forbid("create", "kilo.squat.ai", "peers");
    let out = lab.kubectl(&["auth", "can-i", "create", "peers.kilo.squat.ai"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let file = lab.ts.dir.path().join("peer.yaml");
    std::fs::write(&file, PEER_YAML).unwrap();
    let out = lab.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is forbidden"),
        "{out:?}"
    );
}

#[test]
fn a_wrong_token_is_unauthorized() {
    let lab = Lab::start();
    let out = lab.kubectl(&["--token", "wrong", "get", "nodes"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // kubectl's wording for a 401: "(Unauthorized)" once discovery is cached, "(the server has
    // asked for the client to provide credentials)" when discovery itself is refused.
    assert!(
        stderr.contains("error: You must be logged in to the server"),
        "{stderr}"
    );
}

#[test]
fn create_subcommands_post_protobuf() {
    let lab = Lab::start();
    assert!(
        lab.ok(&["create", "namespace", "demo"])
            .contains("namespace/demo created")
    );
    let ns = lab.ts.store.get("v1", "Namespace", None, "demo").unwrap();
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "demo");
    assert_eq!(ns["status"]["phase"], "Active");

    let out = lab.ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "demo",
        "--tcp=80:8080",
    ]);
    assert!(out.contains("service/web created"), "{out}");
    let svc = lab.ts.store.get("v1", "Service", Some("demo"), "web").unwrap();
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert!(svc["spec"]["clusterIP"].as_str().unwrap().starts_with("10.43."));
}

/// What `kubewire expose` applies: a Service without a selector and its EndpointSlice naming the
/// laptop's Kilo Peer address (outside the pod range).
const EXPOSE_YAML: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: laptop-web
  namespace: default
  labels:
    app.kubernetes.io/managed-by: kubewire
    kubewire.dev/peer: laptop
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
  name: laptop-web-kubewire
  namespace: default
  labels:
    kubernetes.io/service-name: laptop-web
    endpointslice.kubernetes.io/managed-by: kubewire.dev
    app.kubernetes.io/managed-by: kubewire
addressType: IPv4
endpoints:
- addresses: [\"10.4.0.100\"]
  conditions:
    ready: true
ports:
- name: tcp-8080
  port: 8080
  protocol: TCP
";

#[test]
fn server_side_apply_get_and_delete_endpointslices() {
    let lab = Lab::start();
    let resources = lab.ok(&["api-resources", "--api-group=discovery.k8s.io"]);
    let r = row(&resources, "endpointslices");
    assert_eq!(
        r[1..],
        ["discovery.k8s.io/v1", "true", "EndpointSlice"],
        "{resources}"
    );

    let file = lab.ts.dir.path().join("expose.yaml");
    std::fs::write(&file, EXPOSE_YAML).unwrap();
    let f = file.to_str().unwrap();
    let out = lab.ok(&["apply", "--server-side", "--field-manager=kubewire", "-f", f]);
    assert!(out.contains("service/laptop-web serverside-applied"), "{out}");
    assert!(
        out.contains("endpointslice.discovery.k8s.io/laptop-web-kubewire serverside-applied"),
        "{out}"
    );
    let slice = lab
        .ts
        .store
        .get(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            Some("default"),
            "laptop-web-kubewire",
        )
        .unwrap();
    assert_eq!(slice["endpoints"][0]["addresses"], json!(["10.4.0.100"]));
    let svc = lab
        .ts
        .store
        .get("v1", "Service", Some("default"), "laptop-web")
        .unwrap();
    assert!(
        svc["spec"]["clusterIP"].as_str().unwrap().starts_with("10.43."),
        "{svc}"
    );

    let out = lab.ok(&["get", "endpointslices", "-A"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    assert_eq!(
        row(&out, "default")[1..5],
        ["laptop-web-kubewire", "IPv4", "8080", "10.4.0.100"],
        "{out}"
    );
    let out = lab.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=laptop-web",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "endpointslice.discovery.k8s.io/laptop-web-kubewire");

    // Re-applied unchanged: same object; a bad address is refused as kube-apiserver does.
    lab.ok(&["apply", "--server-side", "--field-manager=kubewire", "-f", f]);
    std::fs::write(&file, EXPOSE_YAML.replace("10.4.0.100", "10.4.0.300")).unwrap();
    let out = lab.kubectl(&["apply", "--server-side", "--field-manager=kubewire", "-f", f]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be a valid IPv4 address"), "{stderr}");

    let out = lab.ok(&["delete", "endpointslice", "laptop-web-kubewire", "-n", "default"]);
    assert!(
        out.contains("endpointslice.discovery.k8s.io \"laptop-web-kubewire\" deleted"),
        "{out}"
    );
    let out = lab.kubectl(&["get", "endpointslices", "-A"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"));
}
