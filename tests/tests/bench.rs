#![allow(clippy::unwrap_used)]

//! Benchmarks of the main job against the lab (`cargo xtask bench`, release binaries):
//! - connect time, from the command to the first pod answering, with kubewire's own step breakdown,
//!   against `wg-quick up` (wireguard-go) of the same configuration in the same run;
//! - update latency, from an API change (a node's endpoint moves) to the peer applied on the laptop,
//!   p50 and p99 over 100 changes.
//!
//! Numbers are printed as `BENCH …` lines; they are recorded in the README and the closing notes.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kubewire_e2e::{IFACE, Laptop, text};
use kubewire_lab::control::Request;
use kubewire_lab::testing::{control, http_get};

fn first_answer(netns: &str, url: &str, within: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < within {
        if http_get(netns, url, Duration::from_millis(300)).is_ok() {
            return start.elapsed();
        }
    }
    panic!("{url} did not answer within {within:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
#[ignore = "benchmark: cargo xtask bench"]
fn bench_connect_time_against_wg_quick() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let ns = lab.laptop_netns.clone();
    let target = lab
        .nodes
        .iter()
        .find(|n| !n.leader || lab.nodes.len() == 1)
        .unwrap_or(&lab.nodes[0])
        .clone();
    let url = format!("http://{}/", target.pod_ip);
    let mut kubewire = Vec::new();
    let mut wg_quick_times = Vec::new();
    for round in 0..5 {
        // kubewire: from the command to the first pod answering.
        let start = Instant::now();
        let out = laptop.connect(&[]);
        let connected = start.elapsed();
        let answered = connected + first_answer(&ns, &url, Duration::from_secs(10));
        kubewire.push(answered);
        if round == 0 {
            for line in out.lines().filter(|l| l.contains(" ms")) {
                println!("BENCH connect step: {}", line.trim());
            }
        }
        // The same configuration for wg-quick (kubewire's live config), under a key and Peer of its own:
        // reusing the key BoringTun just used makes the leaders drop wg-quick's first handshakes as
        // replays (WireGuard's timestamp check), which would time the check, not the tunnel.
        let conf = laptop.kubewire(&["showconf"]);
        assert!(conf.status.success(), "{}", text(&conf));
        let out = laptop.kubewire(&["disconnect"]);
        assert!(out.status.success(), "{}", text(&out));
        let (private, public) = kubewire_lab::keys::generate();
        let address = "10.4.254.77/32";
        let peer = format!(
            "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: bench-wg-quick\nspec:\n  allowedIPs: [{address}]\n  publicKey: {public}\n  persistentKeepalive: 25\n"
        );
        let manifest = laptop.dir.path().join("bench-peer.yaml");
        std::fs::write(&manifest, peer).unwrap();
        laptop
            .kubectl(&["apply", "-f", &manifest.to_string_lossy()])
            .unwrap();
        let leader = lab.nodes.iter().find(|n| n.leader).unwrap();
        let leader_if = format!("kwg-{}", leader.name);
        assert!(kubewire_e2e::wait_until(Duration::from_secs(5), || {
            kubewire_lab::testing::exec(&leader.netns, "wg", &["show", &leader_if, "peers"])
                .unwrap_or_default()
                .contains(&public)
        }));
        let key = private;
        let conf = String::from_utf8_lossy(&conf.stdout)
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim_start().starts_with("PrivateKey"))
            .map(|l| {
                if l.trim() == "[Interface]" {
                    format!("{l}\nPrivateKey = {key}")
                } else if l.trim_start().starts_with("Address") {
                    format!("Address = {address}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kwq0.conf");
        std::fs::write(&path, format!("{conf}\n")).unwrap();
        // Let the daemon's BoringTun interface finish going away.
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        let up = wg_quick(&ns, "up", &path);
        if !up
            || !kubewire_e2e::wait_until(Duration::from_secs(10), || {
                http_get(&ns, &url, Duration::from_millis(300)).is_ok()
            })
        {
            let show = laptop.exec("wg", &["show", "all"]).unwrap_or_default();
            let routes = laptop.exec("ip", &["route"]).unwrap_or_default();
            let _ = wg_quick_down(&ns, &path);
            panic!(
                "wg-quick: no answer from {url}\nconfig:\n{}\nwg:\n{show}\nroutes:\n{routes}",
                std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .replace(key.trim(), "<key>")
            );
        }
        let answered = start.elapsed();
        wg_quick_times.push(answered);
        assert!(up, "wg-quick up failed");
        assert!(wg_quick_down(&ns, &path));
        let _ = laptop.kubectl(&["delete", "peer", "bench-wg-quick"]);
    }
    kubewire.sort();
    wg_quick_times.sort();
    let (k, w) = (percentile(&kubewire, 0.5), percentile(&wg_quick_times, 0.5));
    println!("BENCH connect to first pod answer, median of 5: kubewire {k:?} (all {kubewire:?})");
    println!(
        "BENCH wg-quick up (wireguard-go) to first pod answer, median of 5: {w:?} (all {wg_quick_times:?})"
    );
    println!(
        "BENCH ratio kubewire / wg-quick: {:.2}",
        k.as_secs_f64() / w.as_secs_f64()
    );
}

fn wg_quick(ns: &str, verb: &str, conf: &Path) -> bool {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "wg-quick", verb])
        .arg(conf)
        .env("WG_QUICK_USERSPACE_IMPLEMENTATION", "wireguard-go")
        .env_remove("WG_PROCESS_FOREGROUND")
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("wg-quick {verb}: {}", text(&out));
    }
    out.status.success()
}

fn wg_quick_down(ns: &str, conf: &Path) -> bool {
    let ok = wg_quick(ns, "down", conf);
    let _ = std::fs::remove_file("/var/run/wireguard/kwq0.sock");
    ok
}

#[test]
#[ignore = "benchmark: cargo xtask bench"]
fn bench_update_latency_over_100_changes() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let node = lab.nodes.iter().find(|n| n.leader).unwrap().clone();
    let original: Ipv4Addr = node.endpoint.split(':').next().unwrap().parse().unwrap();
    struct Back(String, Ipv4Addr);
    impl Drop for Back {
        fn drop(&mut self) {
            let _ = control(&Request::SetEndpoint {
                name: self.0.clone(),
                ip: self.1,
            });
        }
    }
    let _back = Back(node.name.clone(), original);
    laptop.connect(&[]);
    let addresses = [Ipv4Addr::new(192, 0, 2, 170), original];
    let mut latencies = Vec::new();
    for i in 0..100 {
        let ip = addresses[i % 2];
        let want = format!("{ip}:51820");
        // Timed from before the request: includes the lab moving the node's address (a few ms).
        let changed = Instant::now();
        control(&Request::SetEndpoint {
            name: node.name.clone(),
            ip,
        })
        .unwrap();
        loop {
            let endpoints = laptop
                .exec("wg", &["show", IFACE, "endpoints"])
                .unwrap_or_default();
            if endpoints
                .lines()
                .any(|l| l.starts_with(&node.public_key) && l.ends_with(&want))
            {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(10),
                "change {i} not applied"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(changed.elapsed());
    }
    latencies.sort();
    println!(
        "BENCH update latency (API change -> peer applied), 100 changes: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    let pid = laptop.daemon_pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    if let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS")) {
        println!("BENCH kubewired with the lab's plan: {rss}");
    }
}
