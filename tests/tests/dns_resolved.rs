#![allow(clippy::unwrap_used)]

//! Split DNS in systemd-resolved mode for real (issue 5): a real systemd-resolved with its own D-Bus
//! in the lab's laptop namespace ([`kubewire_e2e::resolved`]), the real daemon with
//! `KUBEWIRE_DNS_BACKEND=resolved`, every query through resolved's stub (`getent`, `dig` without
//! `@`). The resolver then listens on the tunnel's own address: queries to it from a lab pod
//! (through the tunnel) and from the LAN reach it and get nothing. Run by `cargo xtask test` with the
//! lab up (`--ignored --test-threads=1`); needs `crates/dns/tests/resolved/setup.sh`.

use std::time::{Duration, Instant};

use kubewire_e2e::resolved::ResolvedNs;
use kubewire_e2e::{Laptop, text, wait_until};
use kubewire_lab::net::ns::ISP_NS;
use kubewire_lab::testing::exec;

const WEB: &str = "web.default.svc.cluster.local";
const IFACE: &str = kubewire_e2e::IFACE;

fn start_resolved() -> ResolvedNs {
    let lab = kubewire_lab::testing::lab().unwrap_or_else(|e| panic!("{e}"));
    ResolvedNs::start(&lab.laptop_netns, &lab.isp_dns).unwrap_or_else(|e| panic!("{e}"))
}

/// The daemon inside `resolved`'s namespaces (declare it after `resolved`: it must go first).
fn start_laptop(resolved: &ResolvedNs) -> Laptop {
    Laptop::start_entered(
        Some(resolved.enter()),
        vec![
            ("KUBEWIRE_DNS_BACKEND".into(), "resolved".into()),
            ("RUST_LOG".into(), "info,kubewire_dns=debug".into()),
        ],
    )
}

fn getent(laptop: &Laptop, name: &str) -> Result<String, String> {
    laptop.exec("getent", &["hosts", name])
}

fn connect(laptop: &Laptop, resolved: &ResolvedNs) {
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(15), || getent(laptop, WEB).is_ok()),
        "{WEB} does not resolve through resolved after connect\nstatus: {}\nresolvectl: {:?}\ndaemon log:\n{}",
        laptop.status(),
        resolved.resolvectl(&["status"]),
        laptop.daemon_log()
    );
}

/// The laptop's tunnel address.
fn tunnel_address(laptop: &Laptop) -> String {
    laptop.status()["daemon"]["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// No cluster domain on any link, and cluster names gone.
fn assert_reverted(laptop: &Laptop, resolved: &ResolvedNs, when: &str) {
    let domains = resolved.resolvectl(&["domain"]).unwrap_or_default();
    assert!(
        !domains.contains("cluster.local"),
        "{when}: resolved still routes the cluster zone:\n{domains}"
    );
    assert!(
        getent(laptop, WEB).is_err(),
        "{when}: cluster names still resolve"
    );
    assert!(
        getent(laptop, "www.example.test").is_ok_and(|h| h.starts_with("198.51.100.11")),
        "{when}: internet names no longer resolve"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn resolved_mode_routes_the_cluster_zone_to_the_resolver_on_the_tunnel_address() {
    let resolved = start_resolved();
    let laptop = start_laptop(&resolved);
    let lab = laptop.lab.clone();
    assert!(
        getent(&laptop, "www.example.test").is_ok(),
        "resolved answers before connect"
    );
    connect(&laptop, &resolved);

    let status = laptop.status()["daemon"].clone();
    assert!(
        status["warnings"].as_array().is_some_and(Vec::is_empty),
        "no DNS warning: {status}"
    );
    // The link's settings, as resolved shows them.
    let domains = resolved.resolvectl(&["domain", IFACE]).unwrap();
    assert!(domains.contains("~cluster.local"), "{domains}");
    let address = tunnel_address(&laptop);
    let servers = resolved.resolvectl(&["dns", IFACE]).unwrap();
    assert!(
        servers.contains(&address),
        "link DNS is the tunnel address {address}: {servers}"
    );

    // Names through the stub: the full name; <svc>.<ns> and a single label through the link's search
    // domains, as resolved publishes them in its stub-resolv.conf (what /etc/resolv.conf links to on
    // a resolved system; here glibc gets that search line through LOCALDOMAIN, the file being ours).
    let hosts = getent(&laptop, WEB).unwrap();
    assert!(hosts.starts_with("10.43.0.80"), "{hosts}");
    let stub = resolved
        .run("cat", &["/run/systemd/resolve/stub-resolv.conf"])
        .unwrap();
    let stub = String::from_utf8_lossy(&stub.stdout).into_owned();
    let search = stub
        .lines()
        .find_map(|l| l.strip_prefix("search "))
        .unwrap_or_else(|| panic!("no search line in resolved's stub-resolv.conf:\n{stub}"));
    assert!(search.contains("default.svc.cluster.local"), "{search}");
    for name in ["web.default", "web"] {
        let hosts = laptop
            .exec(
                "env",
                &[&format!("LOCALDOMAIN={search}"), "getent", "hosts", name],
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(hosts.starts_with("10.43.0.80"), "{name}: {hosts}");
    }
    let srv = laptop
        .exec(
            "dig",
            &["+short", "_http._tcp.web.default.svc.cluster.local", "SRV"],
        )
        .unwrap();
    assert!(srv.contains("0 100 80 web.default.svc.cluster.local."), "{srv}");
    let started = Instant::now();
    let nx = laptop
        .exec("dig", &["+time=2", "+tries=1", "nope.default.svc.cluster.local"])
        .unwrap_or_else(|e| e);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "NXDOMAIN took {:?}",
        started.elapsed()
    );

    // Internet names through resolved's global server (the ISP), never through the cluster DNS.
    let hosts = getent(&laptop, "www.example.test").unwrap();
    assert!(hosts.starts_with("198.51.100.11"), "{hosts}");
    let cluster_log = std::fs::read_to_string(&lab.dns_query_log).unwrap_or_default();
    assert!(
        !cluster_log.contains("example.test"),
        "an internet name reached the cluster DNS:\n{cluster_log}"
    );

    // The resolver listens on the tunnel address, where a pod can send to it: the query must reach
    // the laptop and get nothing back. Two guards stand there: the inbound filter (the laptop is
    // closed to the cluster: its DROP rule counts the packet) and, behind it, the resolver's own
    // source check (its log says so).
    let filter_drops = || {
        laptop
            .exec("iptables", &["-L", &format!("KWIN-{IFACE}"), "-v", "-x", "-n"])
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("DROP"))
            .and_then(|l| l.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
            .unwrap_or(0)
    };
    let dropped_before = filter_drops();
    let dropped_from = |src: &str| {
        filter_drops() > dropped_before
            || laptop
                .daemon_log()
                .lines()
                .any(|l| l.contains("query from a foreign source dropped") && l.contains(src))
    };
    let pod = &lab.nodes[0];
    let dig_at = |netns: &str, server: &str| {
        exec(
            netns,
            "dig",
            &["+time=1", "+tries=1", &format!("@{server}"), WEB, "A"],
        )
        .unwrap_or_else(|e| e)
    };
    let out = dig_at(&pod.pod_netns, &address);
    assert!(!out.contains("->>HEADER<<-"), "a pod got an answer: {out}");
    assert!(
        wait_until(Duration::from_secs(2), || dropped_from(&format!(
            "{}:",
            pod.pod_ip
        ))),
        "the pod's query did not reach the resolver (so the test proves nothing)\n{}",
        laptop.daemon_log()
    );
    // From the LAN (the ISP resolver's namespace on the laptop's underlay): nothing listens on the
    // laptop's LAN address, and the tunnel address routed through the laptop gets no answer either.
    let out = dig_at(ISP_NS, &lab.laptop_ip);
    assert!(!out.contains("->>HEADER<<-"), "the LAN got an answer: {out}");
    let route = format!("{address}/32");
    exec(ISP_NS, "ip", &["route", "add", &route, "via", &lab.laptop_ip]).unwrap();
    let out = dig_at(ISP_NS, &address);
    let _ = exec(ISP_NS, "ip", &["route", "del", &route]);
    assert!(!out.contains("->>HEADER<<-"), "the LAN got an answer: {out}");
    assert!(
        wait_until(Duration::from_secs(2), || dropped_from(&format!(
            "{}:",
            lab.isp_dns
        ))),
        "the LAN's query did not reach the resolver\n{}",
        laptop.daemon_log()
    );

    // Disconnect: the link and its settings are gone, resolved answers as before.
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_reverted(&laptop, &resolved, "after disconnect");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn resolved_mode_is_undone_after_kill_9_and_restart() {
    let resolved = start_resolved();
    let mut laptop = start_laptop(&resolved);
    connect(&laptop, &resolved);
    laptop.crash_daemon();
    laptop.start_daemon();
    assert_reverted(&laptop, &resolved, "after kill -9 and a restart");
}
