#![allow(clippy::unwrap_used)]

//! Containers on the laptop (issue 13, item 6): a Docker bridge in the lab's laptop namespace
//! (`docker0`, 172.17.0.1/16) with a namespace standing in for a container on it (172.17.0.2/16,
//! its own resolv.conf naming 172.17.0.1). While connected the container resolves the cluster's
//! names and, through the laptop's upstream, internet names; a source outside the bridge's subnet
//! gets no answer from 172.17.0.1:53; a bridge that appears while connected is followed; after
//! disconnect, or once the bridge goes, nothing listens on 172.17.0.1:53. Run by
//! `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubewire_e2e::{Laptop, text, wait_until};
use kubewire_lab::testing::exec;

const WEB: &str = "web.default.svc.cluster.local";
/// The stand-in for a container, and for a foreign network next to the laptop.
const CONTAINER: &str = "kwc-ctr";
const FOREIGN: &str = "kwc-lan";
const GATEWAY: &str = "172.17.0.1";

/// The bridge and the container in the laptop; everything removed on drop, also on failure.
struct Docker<'a> {
    laptop: &'a Laptop,
}

impl<'a> Docker<'a> {
    fn cleanup(laptop: &Laptop) {
        for link in ["docker0", "kwc-veth0", "kwc-lan0"] {
            let _ = laptop.exec("ip", &["link", "del", link]);
        }
        for ns in [CONTAINER, FOREIGN] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
            let _ = std::fs::remove_dir_all(etc(ns));
        }
    }

    /// `docker0` with 172.17.0.1/16 and a container on it at 172.17.0.2.
    fn up(laptop: &'a Laptop) -> Self {
        Self::cleanup(laptop);
        let docker = Docker { laptop };
        let sh = |ns: &str, args: &[&str]| exec(ns, "ip", args).unwrap();
        let lns = laptop.lab.laptop_netns.clone();
        std::fs::create_dir_all(etc(CONTAINER)).unwrap();
        std::fs::write(
            etc(CONTAINER).join("resolv.conf"),
            // One-second retries: the measured time is the listener's, not glibc's 5 s timeout.
            format!("nameserver {GATEWAY}\noptions timeout:1 attempts:1\n"),
        )
        .unwrap();
        let out = std::process::Command::new("ip")
            .args(["netns", "add", CONTAINER])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        sh(&lns, &["link", "add", "docker0", "type", "bridge"]);
        sh(&lns, &["addr", "add", &format!("{GATEWAY}/16"), "dev", "docker0"]);
        sh(&lns, &["link", "set", "docker0", "up"]);
        sh(
            &lns,
            &[
                "link",
                "add",
                "kwc-veth0",
                "type",
                "veth",
                "peer",
                "name",
                "kwc-veth1",
            ],
        );
        sh(&lns, &["link", "set", "kwc-veth1", "netns", CONTAINER]);
        sh(&lns, &["link", "set", "kwc-veth0", "master", "docker0", "up"]);
        sh(CONTAINER, &["addr", "add", "172.17.0.2/16", "dev", "kwc-veth1"]);
        sh(CONTAINER, &["link", "set", "kwc-veth1", "up"]);
        sh(CONTAINER, &["link", "set", "lo", "up"]);
        sh(CONTAINER, &["route", "add", "default", "via", GATEWAY]);
        docker
    }

    /// A foreign network next to the laptop (192.168.77.0/24, the laptop at .1) that routes to
    /// 172.17.0.0/16 through the laptop: its sources are outside the bridge's subnet.
    fn foreign(&self) {
        let lns = self.laptop.lab.laptop_netns.clone();
        let sh = |ns: &str, args: &[&str]| exec(ns, "ip", args).unwrap();
        let out = std::process::Command::new("ip")
            .args(["netns", "add", FOREIGN])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        sh(
            &lns,
            &[
                "link", "add", "kwc-lan0", "type", "veth", "peer", "name", "kwc-lan1",
            ],
        );
        sh(&lns, &["link", "set", "kwc-lan1", "netns", FOREIGN]);
        sh(&lns, &["addr", "add", "192.168.77.1/24", "dev", "kwc-lan0"]);
        sh(&lns, &["link", "set", "kwc-lan0", "up"]);
        sh(FOREIGN, &["addr", "add", "192.168.77.2/24", "dev", "kwc-lan1"]);
        sh(FOREIGN, &["link", "set", "kwc-lan1", "up"]);
        sh(FOREIGN, &["route", "add", "172.17.0.0/16", "via", "192.168.77.1"]);
    }
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        Self::cleanup(self.laptop);
    }
}

fn etc(ns: &str) -> PathBuf {
    PathBuf::from("/etc/netns").join(ns)
}

/// `dig` from `ns` at the bridge's gateway: the answers, or the error (`no servers could be
/// reached` when nothing answers).
fn dig_at_gateway(ns: &str, name: &str) -> Result<String, String> {
    let out = exec(
        ns,
        "dig",
        &["+time=1", "+tries=1", "+short", &format!("@{GATEWAY}"), name],
    )?;
    if out.contains("connection timed out") || out.contains("no servers could be reached") {
        return Err(out);
    }
    Ok(out)
}

/// Whether anything in the laptop listens on 172.17.0.1:53 (UDP or TCP).
fn listening(laptop: &Laptop) -> String {
    laptop
        .exec("ss", &["-Hlnut", "src", &format!("{GATEWAY}:53")])
        .unwrap_or_else(|e| e)
        .trim()
        .to_owned()
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn containers_on_a_docker_bridge_resolve_cluster_names_and_nothing_else_is_answered() {
    let laptop = Laptop::start();
    assert!(
        laptop.resolv_conf_path().exists(),
        "the lab gives the laptop namespace its own resolv.conf"
    );
    laptop.connect(&[]);
    // The bridge appears while connected (Docker started after kubewire).
    let docker = Docker::up(&laptop);
    let appeared = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || exec(
            CONTAINER,
            "getent",
            &["hosts", WEB]
        )
        .is_ok()),
        "{WEB} does not resolve in a container on docker0: {:?}\nlistening on {GATEWAY}:53: {:?}\nstatus: {}\ndaemon log:\n{}",
        exec(CONTAINER, "getent", &["hosts", WEB]),
        listening(&laptop),
        laptop.status(),
        laptop.daemon_log()
    );
    eprintln!(
        "MEASURE the container resolved {WEB} {:?} after docker0 appeared",
        appeared.elapsed()
    );
    assert!(!dig_at_gateway(CONTAINER, WEB).unwrap().is_empty());
    // An internet name goes to the laptop's upstream (the lab's ISP resolver), as for the laptop.
    let internet = exec(CONTAINER, "getent", &["hosts", "www.example.test"]);
    assert!(
        internet.is_ok(),
        "an internet name from the container: {internet:?}"
    );
    assert_eq!(
        internet.unwrap().split_whitespace().next(),
        laptop
            .exec("getent", &["hosts", "www.example.test"])
            .unwrap()
            .split_whitespace()
            .next(),
        "the container gets the laptop's answer"
    );
    let status = laptop.status();
    assert!(
        status["daemon"]["container_dns"]
            .to_string()
            .contains(&format!("{GATEWAY}:53")),
        "status names where containers can ask: {status}"
    );
    let doctor = text(&laptop.kubewire(&["doctor"]));
    assert!(
        doctor.contains(&format!("--dns {GATEWAY}")) && doctor.contains("daemon.json"),
        "doctor explains how to point containers at it:\n{doctor}"
    );

    // A source outside the bridge's subnet reaches 172.17.0.1 but gets no answer.
    docker.foreign();
    assert!(
        exec(FOREIGN, "ping", &["-c1", "-W2", GATEWAY]).is_ok(),
        "the foreign network reaches the gateway at all"
    );
    let foreign = dig_at_gateway(FOREIGN, WEB);
    assert!(
        foreign.is_err(),
        "a source outside 172.17.0.0/16 got an answer: {foreign:?}"
    );
    let foreign = dig_at_gateway(FOREIGN, "www.example.test");
    assert!(
        foreign.is_err(),
        "an open resolver on another network: {foreign:?}"
    );
    let tcp = exec(
        FOREIGN,
        "dig",
        &[
            "+time=2",
            "+tries=1",
            "+tcp",
            "+short",
            &format!("@{GATEWAY}"),
            WEB,
        ],
    )
    .unwrap_or_else(|e| e);
    assert!(
        !tcp.contains("10."),
        "an answer over TCP to a foreign source: {tcp}"
    );

    // After disconnect nothing listens on the bridge.
    assert!(laptop.kubewire(&["disconnect"]).status.success());
    assert_eq!(
        listening(&laptop),
        "",
        "something listens on {GATEWAY}:53 after disconnect"
    );
    assert!(dig_at_gateway(CONTAINER, WEB).is_err());

    // Connecting with the bridge already there; then the bridge goes while connected.
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(10), || exec(
            CONTAINER,
            "getent",
            &["hosts", WEB]
        )
        .is_ok()),
        "{WEB} does not resolve in the container after connecting with docker0 there\n{}",
        laptop.daemon_log()
    );
    laptop.exec("ip", &["link", "del", "docker0"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || listening(&laptop).is_empty()),
        "something listens on {GATEWAY}:53 after docker0 went: {}",
        listening(&laptop)
    );
    assert!(laptop.kubewire(&["disconnect"]).status.success());
    drop(docker);
}
