#![allow(clippy::unwrap_used)]

//! Both directions (issue 17): a server on the laptop, reached from pods on every cloud by a Service
//! name, with no agent in the cluster. Before `expose` the laptop is closed to the cluster (a pod
//! cannot reach a server listening on the laptop's tunnel address); `kubewire expose 8080 --name
//! laptop-api` opens that one port and makes `laptop-api.default.svc.cluster.local:8080` answer from
//! a pod of each location, while another listening port stays closed; `unexpose` and `disconnect`
//! remove the Service, the EndpointSlice and the opening. Run by `cargo xtask test` with the lab up
//! (`--ignored --test-threads=1`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kubewire_e2e::{Laptop, text, wait_until};
use kubewire_lab::testing::{exec, http_get};

const NAME: &str = "laptop-api";
const FQDN: &str = "laptop-api.default.svc.cluster.local";

/// An HTTP server in the laptop namespace on `port` (all addresses), answering `body`; killed by
/// PID when dropped.
struct Server(Child);

impl Server {
    fn start(laptop: &Laptop, port: u16, body: &str) -> Self {
        let dir = laptop.dir.path().join(format!("www-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &laptop.lab.laptop_netns,
                "python3",
                "-m",
                "http.server",
            ])
            .arg(port.to_string())
            .args(["--bind", "0.0.0.0", "--directory"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self(child);
        let url = format!("http://127.0.0.1:{port}/");
        assert!(
            wait_until(Duration::from_secs(10), || laptop
                .exec("curl", &["-sS", "--max-time", "1", &url])
                .is_ok_and(|b| b.contains(body))),
            "the laptop's own server on {port} does not answer"
        );
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The laptop's tunnel address, from `status`.
fn address(laptop: &Laptop) -> String {
    let status = laptop.status();
    let address = status["daemon"]["address"].as_str().unwrap_or_default();
    address.split('/').next().unwrap_or_default().to_owned()
}

/// What a pod gets from `url` within a short timeout.
fn from_pod(pod_netns: &str, url: &str) -> Result<String, String> {
    http_get(pod_netns, url, Duration::from_secs(2))
}

/// The cluster DNS's answer for `name`, asked from a pod.
fn resolve_in_pod(laptop: &Laptop, pod_netns: &str, name: &str) -> Option<String> {
    let server = format!("@{}", laptop.lab.cluster_dns);
    exec(
        pod_netns,
        "dig",
        &["+short", "+time=2", "+tries=1", &server, name, "A"],
    )
    .ok()
    .and_then(|out| out.lines().next().map(str::trim).map(str::to_owned))
    .filter(|ip| !ip.is_empty())
}

fn kubectl_has(laptop: &Laptop, kind: &str, name: &str) -> bool {
    laptop
        .kubectl(&["get", kind, name, "-n", "default", "-o", "name"])
        .is_ok()
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_laptop_server_is_reached_from_every_cloud_by_its_service_name_and_nothing_else_opens() {
    let mut laptop = Laptop::start();
    let _exposed = Server::start(&laptop, 8080, "hello from the laptop");
    let _other = Server::start(&laptop, 8081, "not for the cluster");
    laptop.connect(&[]);
    let me = address(&laptop);
    let pods: Vec<(String, String)> = laptop
        .lab
        .nodes
        .iter()
        .map(|n| (n.location.clone(), n.pod_netns.clone()))
        .collect();
    assert!(pods.len() >= 4, "a pod per cloud: {pods:?}");
    let (_, first_pod) = &pods[0];

    // Connected, nothing exposed: the laptop is closed to the cluster.
    let status = laptop.status();
    assert_eq!(
        status["daemon"]["inbound_filter"], true,
        "the inbound filter is in place: {status}"
    );
    let direct = format!("http://{me}:8080/");
    // Every segment has had a handshake (the laptop pinged its pod): a pod that cannot reach the
    // laptop is kept out by the filter, not by a segment that does not know where the laptop is.
    for node in &laptop.lab.nodes {
        assert!(
            wait_until(Duration::from_secs(10), || laptop
                .exec("ping", &["-c", "1", "-W", "1", &node.pod_ip])
                .is_ok()),
            "the laptop does not reach the pod of {}",
            node.location
        );
    }
    for (location, pod) in &pods {
        assert!(
            from_pod(pod, &direct).is_err(),
            "the pod of {location} reached the laptop's server before anything was exposed"
        );
    }

    // Expose 8080 as laptop-api.
    let out = laptop.kubewire(&["expose", "8080", "--name", NAME, "-n", "default"]);
    assert!(out.status.success(), "expose failed: {}", text(&out));
    let said = text(&out);
    assert!(said.contains("laptop-api.default.svc:8080"), "{said}");
    assert!(kubectl_has(&laptop, "service", NAME), "the Service exists");
    assert!(
        kubectl_has(&laptop, "endpointslice", "laptop-api-kubewire"),
        "the EndpointSlice exists"
    );
    let listed = text(&laptop.kubewire(&["exposed"]));
    assert!(
        listed.contains("default/laptop-api") && listed.contains("8080/tcp"),
        "{listed}"
    );

    // From a pod of every location, by the Service's name (the pod's resolv.conf is kubelet's: the
    // cluster DNS): the laptop's page.
    let by_name = format!("http://{FQDN}:8080/");
    for (location, pod) in &pods {
        let mut got = Err(String::new());
        assert!(
            wait_until(Duration::from_secs(10), || {
                got = from_pod(pod, &by_name);
                got.is_ok()
            }),
            "{location}: {by_name} does not answer: {got:?}\nresolves to: {:?}\nlaptop filter:\n{}\ndirect: {:?}",
            resolve_in_pod(&laptop, pod, FQDN),
            laptop.exec("iptables", &["-L", "-n", "-v"]).unwrap_or_else(|e| e),
            from_pod(pod, &direct),
        );
        assert!(got.unwrap().contains("hello from the laptop"), "{location}");
    }
    // A daemon restart (every package upgrade does one, SIGTERM; or a crash, SIGKILL): when the
    // controller brings the tunnel back, the exposed port opens again, and only it.
    let (_, last_pod) = pods.last().unwrap();
    for crash in [false, true] {
        if crash {
            laptop.crash_daemon();
        } else {
            laptop.stop_daemon();
        }
        std::thread::sleep(Duration::from_millis(500));
        laptop.start_daemon();
        let mut got = Err(String::new());
        assert!(
            wait_until(Duration::from_secs(15), || {
                got = from_pod(last_pod, &by_name);
                got.is_ok()
            }),
            "after a daemon {} the exposed Service does not answer: {got:?}\ndaemon log:\n{}",
            if crash { "crash" } else { "restart" },
            laptop.daemon_log()
        );
        let listed = text(&laptop.kubewire(&["exposed"]));
        assert!(listed.contains("default/laptop-api"), "{listed}");
        assert!(
            from_pod(first_pod, &format!("http://{me}:8081/")).is_err(),
            "after a daemon restart port 8081 is open to the cluster"
        );
    }

    // The other listening port stays closed to the cluster.
    assert!(
        from_pod(first_pod, &format!("http://{me}:8081/")).is_err(),
        "port 8081 was not exposed but a pod reached it"
    );

    // Unexpose: the Service, the slice and the opening go.
    let out = laptop.kubewire(&["unexpose", NAME, "-n", "default"]);
    assert!(out.status.success(), "unexpose failed: {}", text(&out));
    assert!(!kubectl_has(&laptop, "service", NAME), "the Service is gone");
    assert!(!kubectl_has(&laptop, "endpointslice", "laptop-api-kubewire"));
    assert!(
        from_pod(first_pod, &direct).is_err(),
        "the laptop port is still open to the cluster after unexpose"
    );

    // Disconnect removes what is exposed, and the filter with the interface.
    let out = laptop.kubewire(&["expose", "8080", "--name", NAME, "-n", "default"]);
    assert!(out.status.success(), "expose again failed: {}", text(&out));
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "disconnect failed: {}", text(&out));
    assert!(
        wait_until(Duration::from_secs(10), || !kubectl_has(&laptop, "service", NAME)),
        "disconnect leaves the Service behind"
    );
    assert!(
        !kubectl_has(&laptop, "endpointslice", "laptop-api-kubewire"),
        "disconnect leaves the EndpointSlice behind"
    );
    let rules = laptop.exec("iptables", &["-S"]).unwrap_or_default();
    assert!(
        !rules.contains("KWIN-"),
        "the inbound filter outlived the connection:\n{rules}"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn expose_refuses_what_is_not_ours_and_changes_nothing() {
    let laptop = Laptop::start();
    // Not connected: a clear error.
    let out = laptop.kubewire(&["expose", "8080", "--name", NAME]);
    assert!(!out.status.success());
    assert!(text(&out).contains("kubewire connect"), "{}", text(&out));
    laptop.connect(&[]);
    // A Service of that name that is not kubewire's is never overwritten, and no port opens.
    let out = laptop.kubewire(&["expose", "9090", "--name", "web", "-n", "default"]);
    assert!(
        !out.status.success(),
        "expose took over the lab's own web Service"
    );
    assert!(text(&out).contains("not kubewire's"), "{}", text(&out));
    let status = laptop.status();
    assert!(
        status["daemon"]["exposed"].as_array().is_none_or(Vec::is_empty),
        "a refused expose left a port open: {status}"
    );
    // A bad port is refused by the CLI itself.
    let out = laptop.kubewire(&["expose", "0", "--name", NAME]);
    assert!(!out.status.success());
    // A port nothing listens on: exposed with a warning, and doctor says why pods get no answer.
    let out = laptop.kubewire(&["expose", "9091", "--name", "idle", "-n", "default"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("nothing listens on TCP port 9091"),
        "{}",
        text(&out)
    );
    let out = laptop.kubewire(&["doctor", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out)));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "expose" && c["status"] == "fail")
        .unwrap_or_else(|| panic!("doctor does not explain the idle port: {report}"));
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("default/idle: nothing listens on TCP port 9091"),
        "{check}"
    );
    assert!(check["fix"].as_str().unwrap().contains("0.0.0.0:9091"), "{check}");
    let out = laptop.kubewire(&["unexpose", "idle", "-n", "default"]);
    assert!(out.status.success(), "{}", text(&out));
}
