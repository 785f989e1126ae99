#![allow(clippy::unwrap_used)]

//! Split DNS for real (issue 5): the real daemon in the lab's laptop namespace, whose own
//! `/etc/resolv.conf` (`/etc/netns/kw-laptop/resolv.conf`) names the lab's ISP resolver. Every query
//! goes through the namespace's system resolver (`getent`, `dig` without `@`, curl). Run by
//! `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kubewire_e2e::{Laptop, text, wait_until};
use kubewire_lab::testing::{exec, http_get_within};

const WEB: &str = "web.default.svc.cluster.local";

fn getent(laptop: &Laptop, name: &str) -> Result<String, String> {
    laptop.exec("getent", &["hosts", name])
}

fn dig(laptop: &Laptop, args: &[&str]) -> String {
    let mut all = vec!["+time=2", "+tries=1"];
    all.extend_from_slice(args);
    laptop.exec("dig", &all).unwrap_or_else(|e| e)
}

fn dig_short(laptop: &Laptop, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["+short"];
    all.extend_from_slice(args);
    dig(laptop, &all)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Connects and waits until the cluster's names resolve through the system resolver.
fn connect_with_dns(laptop: &Laptop) {
    assert!(
        laptop.resolv_conf_path().exists(),
        "the lab gives the laptop namespace its own resolv.conf"
    );
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(15), || getent(laptop, WEB).is_ok()),
        "{WEB} does not resolve after connect\nresolv.conf:\n{}\nstatus: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&laptop.resolv_conf()),
        laptop.status(),
        laptop.daemon_log()
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn cluster_names_resolve_through_the_system_resolver_and_other_names_do_not_reach_the_cluster() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let original = laptop.resolv_conf();
    // Before: the ISP resolver answers internet names, cluster names do not exist.
    assert!(getent(&laptop, "www.example.test").is_ok());
    assert!(getent(&laptop, WEB).is_err());

    connect_with_dns(&laptop);
    assert_ne!(
        laptop.resolv_conf(),
        original,
        "resolv.conf points at kubewire's resolver"
    );
    let status = laptop.status()["daemon"].clone();
    assert_eq!(status["dns_server"], lab.cluster_dns.as_str(), "{status}");
    assert!(
        status["warnings"].as_array().is_some_and(Vec::is_empty),
        "no DNS warning: {status}"
    );

    // getent (glibc, /etc/resolv.conf).
    let hosts = getent(&laptop, WEB).unwrap();
    assert!(hosts.starts_with("10.43.0.80"), "{hosts}");

    // curl by full name and by <svc>.<ns>.
    let web = lab.service("default", "web").unwrap();
    for url in [format!("http://{WEB}/"), "http://web.default/".to_string()] {
        let body = http_get_within(&lab.laptop_netns, &url, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", laptop.daemon_log()));
        assert!(web.pods.contains(&body), "{url} answered {body}");
    }

    // SRV, without @.
    let srv = dig_short(&laptop, &["_http._tcp.web.default.svc.cluster.local", "SRV"]);
    assert!(srv.contains("0 100 80 web.default.svc.cluster.local."), "{srv:?}");

    // Headless: every pod's address.
    let echo = lab.service("default", "echo").unwrap();
    assert!(echo.cluster_ip.is_none(), "echo is headless");
    let want: BTreeSet<String> = echo.pod_ips.iter().cloned().collect();
    assert_eq!(dig_short(&laptop, &["echo.default.svc.cluster.local", "A"]), want);

    // PTR of a pod IP.
    let pod_ip = &echo.pod_ips[0];
    let ptr = dig_short(&laptop, &["-x", pod_ip]);
    assert!(
        ptr.iter()
            .any(|n| n.ends_with(".echo.default.svc.cluster.local.")),
        "PTR {pod_ip}: {ptr:?}"
    );

    // A name that does not exist: NXDOMAIN, fast.
    let started = Instant::now();
    let out = dig(&laptop, &["nope.default.svc.cluster.local", "A"]);
    let took = started.elapsed();
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(took < Duration::from_secs(1), "NXDOMAIN took {took:?}");

    // An internet name goes to the ISP resolver and never to the cluster DNS.
    let before = std::fs::read_to_string(&lab.isp_query_log)
        .unwrap_or_default()
        .len();
    let hosts = getent(&laptop, "www.example.test").unwrap();
    assert!(hosts.starts_with("198.51.100.11"), "{hosts}");
    let isp = std::fs::read_to_string(&lab.isp_query_log).unwrap_or_default();
    assert!(
        isp[before.min(isp.len())..].contains("www.example.test"),
        "the ISP resolver saw the query: {isp}"
    );
    let cluster_log = std::fs::read_to_string(&lab.dns_query_log).unwrap_or_default();
    assert!(
        !cluster_log.contains("example.test"),
        "an internet name reached the cluster DNS:\n{cluster_log}"
    );

    // A pod querying the laptop's tunnel address gets no answer.
    let address = status["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let node = &lab.nodes[0];
    let from_pod = exec(
        &node.pod_netns,
        "dig",
        &["+time=1", "+tries=1", &format!("@{address}"), WEB, "A"],
    );
    let out = from_pod.unwrap_or_else(|e| e);
    assert!(!out.contains("ANSWER SECTION"), "a pod got an answer: {out}");
    assert!(!out.contains("status: NOERROR"), "a pod got an answer: {out}");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn disconnect_restores_resolv_conf_byte_for_byte() {
    let laptop = Laptop::start();
    let original = laptop.resolv_conf();
    connect_with_dns(&laptop);
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        laptop.resolv_conf(),
        original,
        "resolv.conf is back byte for byte\n{}",
        laptop.daemon_log()
    );
    assert!(getent(&laptop, WEB).is_err(), "cluster names no longer resolve");
    assert!(
        getent(&laptop, "www.example.test").is_ok(),
        "internet names still do"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_crashed_daemon_is_undone_at_its_next_start() {
    let mut laptop = Laptop::start();
    let original = laptop.resolv_conf();
    connect_with_dns(&laptop);
    laptop.crash_daemon();
    assert_ne!(laptop.resolv_conf(), original, "a kill -9 leaves our resolv.conf");
    laptop.start_daemon();
    assert_eq!(
        laptop.resolv_conf(),
        original,
        "resolv.conf is back byte for byte after the restart\n{}",
        laptop.daemon_log()
    );
    assert!(getent(&laptop, "www.example.test").is_ok());
    assert!(getent(&laptop, WEB).is_err());
}

/// Puts `kube-system/coredns` back when dropped (also when the test fails).
struct CorefileBack<'a>(&'a Laptop);

impl Drop for CorefileBack<'_> {
    fn drop(&mut self) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let object = kubewire_lab::objects::coredns_config(&self.0.lab.cluster_domain);
        std::fs::write(file.path(), object.to_string()).unwrap();
        let _ = self.0.kubectl(&["create", "-f", &file.path().to_string_lossy()]);
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn without_a_readable_corefile_the_cluster_dns_names_the_domain_through_the_tunnel() {
    let laptop = Laptop::start();
    // A developer whose RBAC keeps them out of kube-system sees no Corefile: here it is gone.
    laptop
        .kubectl(&["delete", "configmap", "coredns", "-n", "kube-system"])
        .unwrap();
    let _back = CorefileBack(&laptop);
    let out = laptop.connect(&[]);
    assert!(
        out.contains(&format!(
            "cluster domain cluster.local: the cluster's DNS named it for {}",
            laptop.lab.cluster_dns
        )),
        "connect asks the cluster's DNS and says what it found:\n{out}"
    );
    assert!(
        !out.contains("--cluster-domain"),
        "no warning to pass --cluster-domain when the cluster's DNS told:\n{out}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || getent(&laptop, WEB).is_ok()),
        "{WEB} resolves\n{}",
        laptop.daemon_log()
    );
}
