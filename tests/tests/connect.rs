#![allow(clippy::unwrap_used)]

//! `kubewire connect` for real: the real daemon in the lab's laptop namespace, the real CLI, the lab's
//! cluster. Run by `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubewire_e2e::{IFACE, Laptop, Restore, expected_routes, text, wait_until};
use kubewire_lab::control::Request;
use kubewire_lab::testing::{control, http_get, http_get_within};

const QUICK: Duration = Duration::from_secs(2);

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn connect_reaches_every_pod_and_service_and_disconnect_removes_everything() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    // Before: nothing inside the cluster answers.
    assert!(
        http_get(
            &lab.laptop_netns,
            &format!("http://{}/", lab.nodes[0].pod_ip),
            QUICK
        )
        .is_err()
    );

    let started = Instant::now();
    let out = laptop.connect(&[]);
    eprintln!("connect took {:?}:\n{out}", started.elapsed());

    for node in &lab.nodes {
        let body = http_get_within(
            &lab.laptop_netns,
            &format!("http://{}/", node.pod_ip),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| {
            panic!(
                "pod {} through the tunnel: {e}\n{}",
                node.pod_name,
                laptop.daemon_log()
            )
        });
        assert_eq!(body, node.pod_name);
    }
    let web = lab.service("default", "web").unwrap();
    let answer = http_get_within(&lab.laptop_netns, "http://10.43.0.80/", Duration::from_secs(5)).unwrap();
    assert!(web.pods.contains(&answer), "{answer}");

    assert_eq!(
        laptop.tunnel_routes(),
        expected_routes(&lab),
        "routes on the laptop are exactly the Plan's"
    );
    let all_routes = laptop.exec("ip", &["route"]).unwrap();
    assert!(!all_routes.contains("default"), "no default route: {all_routes}");

    let key = laptop.exec("wg", &["show", IFACE, "public-key"]).unwrap();
    let peers = laptop
        .kubewire_peers("jsonpath={.items[*].spec.publicKey}")
        .unwrap();
    assert_eq!(peers.trim(), key.trim(), "the Peer carries the laptop's key");

    let status = laptop.status();
    assert_eq!(status["daemon"]["state"], "connected", "{status}");
    let segments = lab.nodes.iter().filter(|n| n.leader).count();
    assert_eq!(
        status["daemon"]["peers"].as_array().map(Vec::len),
        Some(segments),
        "one peer per segment: {status}"
    );
    assert_eq!(status["daemon"]["controller_attached"], true, "{status}");

    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!laptop.interface_exists(), "interface removed");
    assert!(laptop.tunnel_routes().is_empty());
    assert!(
        !laptop.state_dir().join("state.json").exists(),
        "state file removed"
    );
    let left = laptop.kubewire_peers("name").unwrap();
    assert!(left.trim().is_empty(), "Peer deleted: {left}");
    assert!(
        http_get(
            &lab.laptop_netns,
            &format!("http://{}/", lab.nodes[0].pod_ip),
            QUICK
        )
        .is_err()
    );
}

/// A fixed number of pings, one every 50 ms, from the laptop to `ip`. It is let run to its end, so the
/// last echo is waited for (stopping ping with a signal counts a reply still in flight as lost).
struct PingRun(std::process::Child);

impl PingRun {
    const COUNT: u32 = 100;

    fn start(netns: &str, ip: &str) -> Self {
        let count = Self::COUNT.to_string();
        let child = Command::new("ip")
            .args([
                "netns", "exec", netns, "ping", "-i", "0.05", "-W", "1", "-c", &count, ip,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        PingRun(child)
    }

    fn still_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// Waits for the last echo; returns how many were sent and the sequence numbers that got no reply.
    fn finish(mut self) -> (u32, Vec<u32>) {
        let out = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let answered: std::collections::BTreeSet<u32> = text
            .lines()
            .filter_map(|l| l.split("icmp_seq=").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect();
        let sent = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| l.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        (sent, (1..=sent).filter(|seq| !answered.contains(seq)).collect())
    }
}

impl Drop for PingRun {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn the_tunnel_follows_the_cluster_live() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let ns = lab.laptop_netns.clone();
    laptop.connect(&[]);
    let steady = lab.nodes.iter().find(|n| n.name != "gcp").unwrap().clone();
    assert_eq!(
        http_get_within(
            &ns,
            &format!("http://{}/", steady.pod_ip),
            Duration::from_secs(10)
        )
        .unwrap(),
        steady.pod_name
    );

    // A node joins: its pod answers within 2 s of the change.
    let _restore = Restore(vec![
        Request::RemoveNode { name: "ovh".into() },
        Request::SetReady {
            name: "gcp".into(),
            ready: true,
        },
        Request::ApiStart,
    ]);
    let added = control(&Request::AddNode {
        name: "ovh".into(),
        location: "ovh".into(),
    })
    .unwrap()
    .lab
    .unwrap();
    let ovh = added.node("ovh").unwrap().clone();
    let t = Instant::now();
    let body = http_get_within(&ns, &format!("http://{}/", ovh.pod_ip), Duration::from_secs(2)).unwrap();
    assert_eq!(body, "echo-ovh");
    eprintln!("new node answered {:?} after it joined", t.elapsed());
    assert!(wait_until(Duration::from_secs(2), || laptop.tunnel_routes()
        == expected_routes(&added)));

    // A node's endpoint moves: it answers again, and a flow to another node loses nothing.
    let gcp = added.node("gcp").unwrap().clone();
    let mut ping = PingRun::start(&ns, &steady.pod_ip);
    std::thread::sleep(Duration::from_millis(500));
    control(&Request::SetEndpoint {
        name: "gcp".into(),
        ip: Ipv4Addr::new(192, 0, 2, 160),
    })
    .unwrap();
    let body = http_get_within(&ns, &format!("http://{}/", gcp.pod_ip), Duration::from_secs(5)).unwrap();
    assert_eq!(body, gcp.pod_name);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        ping.still_running(),
        "the ping ({} echoes) must outlast the endpoint change",
        PingRun::COUNT
    );
    let (sent, lost) = ping.finish();
    assert_eq!(sent, PingRun::COUNT, "ping ran to its end");
    assert!(
        lost.is_empty(),
        "the unchanged peer's flow lost {} of {sent} echoes, icmp_seq {lost:?}",
        lost.len()
    );

    // A node leaves (stale last-seen: Kilo drops it) and its routes go.
    control(&Request::SetReady {
        name: "gcp".into(),
        ready: false,
    })
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || !laptop
            .tunnel_routes()
            .contains(&gcp.pod_cidr)),
        "route to a node that left is removed"
    );
    control(&Request::SetReady {
        name: "gcp".into(),
        ready: true,
    })
    .unwrap();
    assert_eq!(
        http_get_within(&ns, &format!("http://{}/", gcp.pod_ip), Duration::from_secs(15)).unwrap(),
        gcp.pod_name
    );

    // A node is removed from the cluster.
    control(&Request::RemoveNode { name: "ovh".into() }).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !laptop
        .tunnel_routes()
        .contains(&ovh.pod_cidr)));

    // The API server goes away: the tunnel stays, status says why; it comes back and kubewire resumes.
    control(&Request::ApiStop).unwrap();
    let says_why = wait_until(Duration::from_secs(20), || {
        let out = laptop.kubewire(&["status"]);
        text(&out).contains("unreachable")
    });
    assert!(
        says_why,
        "status says the API is unreachable: {}",
        text(&laptop.kubewire(&["status"]))
    );
    assert_eq!(
        http_get(&ns, &format!("http://{}/", steady.pod_ip), QUICK).unwrap(),
        steady.pod_name
    );
    control(&Request::ApiStart).unwrap();
    let back = control(&Request::AddNode {
        name: "ovh".into(),
        location: "ovh".into(),
    })
    .unwrap()
    .lab
    .unwrap();
    let ovh = back.node("ovh").unwrap().clone();
    let body = http_get_within(&ns, &format!("http://{}/", ovh.pod_ip), Duration::from_secs(30)).unwrap();
    assert_eq!(body, "echo-ovh", "resumed after the API server came back");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_leader_re_election_moves_the_segment() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let ns = lab.laptop_netns.clone();
    let location = lab.nodes.iter().find(|n| n.leader).unwrap().location.clone();
    let member = format!("{location}-8");
    let _restore = Restore(vec![Request::RemoveNode { name: member.clone() }]);
    let added = control(&Request::AddNode {
        name: member.clone(),
        location: location.clone(),
    })
    .unwrap()
    .lab
    .unwrap();
    laptop.connect(&[]);
    let m = added.node(&member).unwrap().clone();
    assert_eq!(
        http_get_within(&ns, &format!("http://{}/", m.pod_ip), Duration::from_secs(10)).unwrap(),
        m.pod_name
    );
    let elected = control(&Request::SetLeader { name: member.clone() })
        .unwrap()
        .lab
        .unwrap();
    for n in elected.nodes.iter().filter(|n| n.location == location) {
        let body = http_get_within(&ns, &format!("http://{}/", n.pod_ip), Duration::from_secs(10)).unwrap();
        assert_eq!(body, n.pod_name, "after re-election");
    }
    let key = elected.node(&member).unwrap().public_key.clone();
    let peers = laptop.exec("wg", &["show", IFACE, "peers"]).unwrap();
    assert!(peers.contains(&key), "the new leader's key is the segment's peer");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_crashed_daemon_leaves_nothing_after_its_restart() {
    let mut laptop = Laptop::start();
    laptop.connect(&[]);
    let lab = laptop.lab.clone();
    assert!(
        http_get_within(
            &lab.laptop_netns,
            &format!("http://{}/", lab.nodes[0].pod_ip),
            Duration::from_secs(10)
        )
        .is_ok()
    );
    laptop.crash_daemon();
    let out = laptop.kubewire(&["disconnect"]);
    let _ = out; // the controller goes; the daemon is dead
    laptop.start_daemon();
    assert!(
        wait_until(Duration::from_secs(10), || !laptop.interface_exists()
            && laptop.tunnel_routes().is_empty()),
        "a restarted daemon removes what its crashed predecessor left: {}",
        laptop.daemon_log()
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_corrupt_state_file_is_reported_and_cleaned_up() {
    let mut laptop = Laptop::start();
    laptop.connect(&[]);
    laptop.crash_daemon();
    let _ = laptop.kubewire(&["disconnect"]);
    std::fs::write(laptop.state_dir().join("state.json"), b"{ this is not json").unwrap();
    laptop.start_daemon();
    assert!(
        wait_until(Duration::from_secs(10), || !laptop.interface_exists()),
        "{}",
        laptop.daemon_log()
    );
    let log = laptop.daemon_log();
    assert!(
        log.contains("state.json"),
        "the log names the corrupt file: {log}"
    );
    // The daemon still works.
    laptop.connect(&[]);
    assert!(laptop.interface_exists());
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_default_route_sent_straight_to_the_socket_is_refused() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let snapshot = laptop
        .kubectl(&["get", "nodes,peers.kilo.squat.ai,services", "-A", "-o", "yaml"])
        .unwrap();
    let snapshot = kubewire_core::Snapshot::parse(&snapshot).unwrap();
    let key: kubewire_core::PublicKey = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut plan = kubewire_core::plan(&snapshot, &kubewire_core::PlanRequest::new(key), now).unwrap();
    plan.peers[0].allowed_ips.push("0.0.0.0/0".parse().unwrap());
    plan.routes.push("0.0.0.0/0".parse().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let mut client = kubewire_ipc::Client::connect(&laptop.socket()).await.unwrap();
        client
            .request(&kubewire_ipc::Request::Apply {
                plan: Box::new(plan),
                private_key: kubewire_ipc::SecretKey("8Nx2rRbSgbmyjn5LiSHGmF3VYWC4eDHIrl7T0nnTvGU=".into()),
                preshared_key: None,
                session: kubewire_ipc::SessionInfo::default(),
            })
            .await
    });
    match result {
        Err(kubewire_ipc::ClientError::Daemon {
            code: kubewire_ipc::ErrorCode::PlanRefused,
            message,
        }) => {
            assert!(message.contains("0.0.0.0/0"), "{message}");
        }
        other => panic!("expected PlanRefused, got {other:?}"),
    }
    assert!(!laptop.interface_exists(), "nothing changed");
    let routes = laptop.exec("ip", &["route"]).unwrap();
    assert!(!routes.contains("default"), "{routes}");
    let _ = lab;
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_user_outside_the_group_is_refused() {
    let laptop = Laptop::start();
    // As `nobody`, not in the kubewire group: the socket (0660 root:kubewire or 0600) refuses.
    let socket = laptop.socket();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(kubewire_e2e::bin("kubewire"))
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("kubewire group") || said.contains("usermod"),
        "the refusal says how to fix it: {said}"
    );
}
