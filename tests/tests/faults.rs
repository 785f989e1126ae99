#![allow(clippy::unwrap_used)]

//! The fault-injection suite's lab half (issue 12): the world fails around a connected laptop (the
//! API server goes away, the cluster DNS stops answering, the daemon is killed) and every case ends
//! with the laptop's routes, rules, links, addresses and resolv.conf exactly as before connect, and
//! the laptop's internet names resolving all along. The crash points inside apply/revert/restore are
//! the other half (`crates/dns/tests/crash.rs`, `crates/daemon/tests/daemon_crash.rs`). Run by
//! `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::time::Duration;

use kubewire_e2e::{Laptop, Restore, text, wait_until};
use kubewire_lab::control::Request;
use kubewire_lab::model::DnsPod;
use kubewire_lab::testing::{control, exec};

const WEB: &str = "web.default.svc.cluster.local";
/// A name of the laptop's own DNS (the lab's ISP resolver).
const INTERNET: &str = "www.example.test";

/// Everything of the laptop's network that kubewire may touch, as text to compare.
fn snapshot(laptop: &Laptop) -> String {
    let mut out = String::new();
    for args in [
        &["-4", "route", "show", "table", "all"][..],
        &["-6", "route", "show", "table", "all"],
        &["-4", "rule", "show"],
        &["-6", "rule", "show"],
        &["-o", "addr", "show"],
    ] {
        out.push_str(&format!("## ip {}\n", args.join(" ")));
        let text = laptop.exec("ip", args).unwrap_or_else(|e| e);
        // The kernel's own IPv6 link-local addresses appear (and lose `tentative`) when their
        // duplicate-address detection ends, at a moment of the kernel's choosing: left out.
        for line in text.lines().filter(|l| !l.contains(" fe80:")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    // The inbound filter's chains (iptables and ip6tables).
    for tool in ["iptables", "ip6tables"] {
        out.push_str(&format!("## {tool} -S\n"));
        out.push_str(&laptop.exec(tool, &["-S"]).unwrap_or_else(|e| e));
    }
    // Link names only (their counters move).
    out.push_str("## links\n");
    for line in laptop
        .exec("ip", &["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
    {
        if let Some(name) = line.split(':').nth(1) {
            out.push_str(name.trim());
            out.push('\n');
        }
    }
    out.push_str("## resolv.conf\n");
    out.push_str(&String::from_utf8_lossy(&laptop.resolv_conf()));
    out
}

fn resolves(laptop: &Laptop, name: &str) -> bool {
    laptop.exec("getent", &["hosts", name]).is_ok()
}

/// Connects, waits for the cluster's names, and checks the snapshot sees the change (so that its
/// equality afterwards means something).
fn connect_with_dns(laptop: &Laptop, before: &str) {
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(15), || resolves(laptop, WEB)),
        "{WEB} does not resolve after connect: {}",
        laptop.daemon_log()
    );
    let during = snapshot(laptop);
    assert_ne!(during, before, "connect changes the laptop's network");
    for seen in [kubewire_e2e::IFACE, "nameserver", "KWIN-"] {
        assert!(during.contains(seen), "the snapshot shows {seen}: {during}");
    }
}

fn assert_as_before(laptop: &Laptop, before: &str, case: &str) {
    let after = snapshot(laptop);
    assert_eq!(
        after,
        before,
        "{case}: the laptop's network is not as before connect\ndaemon log:\n{}",
        laptop.daemon_log()
    );
    assert!(resolves(laptop, INTERNET), "{case}: internet names resolve");
    assert!(!resolves(laptop, WEB), "{case}: cluster names are gone");
    eprintln!("FAULT case passed: {case}");
}

/// The cluster DNS pod stops answering (its packets dropped) until dropped.
struct DnsGone;

impl DnsGone {
    const RULES: [&[&str]; 2] = [
        &["INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"],
        &["INPUT", "-p", "tcp", "--dport", "53", "-j", "DROP"],
    ];

    fn start() -> Self {
        for rule in Self::RULES {
            let mut args = vec!["-I"];
            args.extend_from_slice(rule);
            exec(DnsPod::NETNS, "iptables", &args).unwrap();
        }
        DnsGone
    }
}

impl Drop for DnsGone {
    fn drop(&mut self) {
        for rule in Self::RULES {
            let mut args = vec!["-D"];
            args.extend_from_slice(rule);
            let _ = exec(DnsPod::NETNS, "iptables", &args);
        }
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn an_api_server_gone_before_connect_is_a_clear_error_that_changes_nothing() {
    let laptop = Laptop::start();
    let before = snapshot(&laptop);
    let _restore = Restore(vec![Request::ApiStart]);
    control(&Request::ApiStop).unwrap();
    let out = laptop.kubewire(&["connect", "--detach"]);
    assert!(
        !out.status.success(),
        "connect without an API server: {}",
        text(&out)
    );
    let said = text(&out);
    assert!(
        said.contains("reach") || said.contains("unreachable") || said.contains("connect to"),
        "the error says the API server cannot be reached: {said}"
    );
    assert_as_before(&laptop, &before, "API server gone before connect");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn an_api_server_gone_while_connected_then_disconnect_leaves_the_laptop_as_before() {
    let laptop = Laptop::start();
    let before = snapshot(&laptop);
    connect_with_dns(&laptop, &before);
    let _restore = Restore(vec![Request::ApiStart]);
    control(&Request::ApiStop).unwrap();
    // The tunnel and the names stay while the API server is gone.
    assert!(
        resolves(&laptop, WEB),
        "cluster names resolve without the API server"
    );
    assert!(resolves(&laptop, INTERNET));
    let out = laptop.kubewire(&["disconnect"]);
    assert!(
        out.status.success(),
        "disconnect without an API server: {}",
        text(&out)
    );
    assert_as_before(
        &laptop,
        &before,
        "API server gone while connected, then disconnect",
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn the_cluster_dns_gone_leaves_internet_names_working_and_disconnect_restores_everything() {
    let laptop = Laptop::start();
    let before = snapshot(&laptop);
    connect_with_dns(&laptop, &before);
    let gone = DnsGone::start();
    // Internet names never wait for the cluster; cluster names fail instead of hanging the laptop.
    for _ in 0..3 {
        assert!(
            resolves(&laptop, INTERNET),
            "internet names resolve while the cluster DNS is gone"
        );
    }
    assert!(
        wait_until(Duration::from_secs(20), || !resolves(&laptop, WEB)),
        "cluster names stop resolving once the cache expires"
    );
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "disconnect: {}", text(&out));
    drop(gone);
    assert_as_before(&laptop, &before, "cluster DNS gone, then disconnect");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_daemon_killed_while_the_api_server_is_gone_is_undone_at_its_next_start() {
    let mut laptop = Laptop::start();
    let before = snapshot(&laptop);
    connect_with_dns(&laptop, &before);
    let _restore = Restore(vec![Request::ApiStart]);
    control(&Request::ApiStop).unwrap();
    laptop.crash_daemon();
    laptop.start_daemon();
    // The CLI's controller may still be running; disconnect ends the session for good.
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "disconnect: {}", text(&out));
    assert_as_before(
        &laptop,
        &before,
        "daemon killed while the API server is gone, restarted",
    );
}
