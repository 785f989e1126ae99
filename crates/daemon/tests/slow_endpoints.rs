//! Endpoint names that resolve slowly (issue 12, item 10), with the real `kubewired` in a network
//! namespace whose resolver (`/etc/netns/<ns>/resolv.conf`, which `ip netns exec` mounts) is a small
//! DNS server of this test that answers every query after a delay. The names must resolve together
//! (one deadline, not one timeout per name), the daemon must answer status and disconnect while they
//! resolve, and an address a name resolves to is held to the same "no routed range contains an
//! endpoint" rule as a literal one. Root only (`KUBEWIRE_TESTS_STRICT=1` makes a skip a failure).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Lab, is_root};
use ipnet::IpNet;
use kubewire_ipc::{ClientError, ErrorCode, Request, Response, TunnelState};

/// How long the test's DNS server takes to answer each query.
const DELAY: Duration = Duration::from_secs(3);

macro_rules! require_root {
    () => {
        if !is_root() {
            assert!(
                std::env::var_os("KUBEWIRE_TESTS_STRICT").is_none(),
                "needs root (network namespaces), and KUBEWIRE_TESTS_STRICT is set"
            );
            eprintln!("skipped: needs root (network namespaces)");
            return;
        }
    };
}

/// A DNS server on 127.0.0.1:53 inside a namespace, answering A queries for its names after `delay`
/// (other names: NXDOMAIN; other types: no records), made the namespace's resolver. Stops and removes
/// `/etc/netns/<ns>` on Drop.
struct SlowDns {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl SlowDns {
    fn start(ns: &str, names: &[(&str, Ipv4Addr)], delay: Duration) -> Self {
        let dir = PathBuf::from(format!("/etc/netns/{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:20 attempts:1\n",
        )
        .unwrap();
        let names: HashMap<String, Ipv4Addr> = names.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let netns = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // This thread (only) enters the namespace; its socket stays there.
            nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let socket = UdpSocket::bind("127.0.0.1:53").unwrap();
            socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let reply_socket = socket.try_clone().unwrap();
                let names = names.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    if let Some(answer) = answer(&query, &names) {
                        let _ = reply_socket.send_to(&answer, from);
                    }
                });
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Self {
            stop,
            thread: Some(thread),
            dir,
        }
    }
}

impl Drop for SlowDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The answer to a one-question query, by hand (header, question copied, one A record).
fn answer(query: &[u8], names: &HashMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let found = names.get(&labels.join("."));
    let mut out = Vec::new();
    out.extend_from_slice(query.get(..2)?);
    out.extend_from_slice(if found.is_some() {
        &[0x81, 0x80]
    } else {
        &[0x81, 0x83]
    });
    let records = u16::from(found.is_some() && qtype == 1);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&records.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..question_end)?);
    if records == 1 {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&found?.octets());
    }
    Some(out)
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = list.iter().map(|s| s.parse().unwrap()).collect();
    v.sort();
    v
}

/// Each node's endpoint as the name `node-<k>.slow.test`.
fn named_plan(lab: &Lab, count: usize) -> kubewire_core::Plan {
    let names: Vec<String> = (1..=count).map(|k| format!("node-{k}.slow.test:51820")).collect();
    let chosen: Vec<(usize, Option<&str>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i, Some(n.as_str())))
        .collect();
    lab.plan(&chosen)
}

/// A status request on a new connection, and how long its answer took.
async fn timed_status(lab: &Lab) -> (Duration, TunnelState) {
    let started = Instant::now();
    let mut client = lab.client().await;
    let answer = tokio::time::timeout(Duration::from_secs(30), client.request(&Request::Status))
        .await
        .unwrap();
    match answer {
        Ok(Response::Status { status }) => (started.elapsed(), status.state),
        other => panic!("status: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoint_names_resolve_together_and_status_answers_meanwhile() {
    require_root!();
    let mut lab = Lab::new(3);
    let names: Vec<(String, Ipv4Addr)> = (1..=3u8)
        .map(|k| (format!("node-{k}.slow.test"), Ipv4Addr::new(198, 18, k, 2)))
        .collect();
    let refs: Vec<(&str, Ipv4Addr)> = names.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let _dns = SlowDns::start(&lab.laptop, &refs, DELAY);
    lab.start_daemon();

    let plan = named_plan(&lab, 3);
    let request = lab.apply_request(plan);
    let mut client = lab.client().await;
    let started = Instant::now();
    let applying = tokio::spawn(async move { (client.request(&request).await, started.elapsed()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, state) = timed_status(&lab).await;
    eprintln!("MEASURE status while 3 names resolve ({DELAY:?} each): answered in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "status took {took:?} while endpoint names resolved: the session lock is held across the lookups\n{}",
        lab.log()
    );
    assert_eq!(
        state,
        TunnelState::Disconnected,
        "nothing is applied before the names resolve"
    );

    let (answer, apply_took) = applying.await.unwrap();
    eprintln!("MEASURE apply of a Plan with 3 endpoint names ({DELAY:?} each): {apply_took:?}");
    match answer {
        Ok(Response::Applied { .. }) => {}
        other => panic!("apply: {other:?}\n{}", lab.log()),
    }
    assert!(
        apply_took < DELAY * 2,
        "3 names of {DELAY:?} each took {apply_took:?}: they resolve one after another\n{}",
        lab.log()
    );
    for node in &lab.nodes {
        assert!(
            lab.ping(node.pod, Duration::from_secs(10)),
            "pod {} unreachable: its endpoint name was not used\n{}",
            node.pod,
            lab.log()
        );
    }
    let status = lab.status().await;
    assert!(
        status.warnings.iter().all(|w| !w.contains("resolve")),
        "{:?}",
        status.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_is_answered_while_names_resolve_and_wins() {
    require_root!();
    let mut lab = Lab::new(1);
    let _dns = SlowDns::start(
        &lab.laptop,
        &[("node-1.slow.test", Ipv4Addr::new(198, 18, 1, 2))],
        DELAY,
    );
    lab.start_daemon();

    let request = lab.apply_request(named_plan(&lab, 1));
    let mut client = lab.client().await;
    let applying = tokio::spawn(async move { client.request(&request).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let answer = lab
        .client()
        .await
        .request(&Request::Disconnect { name: None })
        .await;
    let took = started.elapsed();
    eprintln!("MEASURE disconnect while a {DELAY:?} name resolves: answered in {took:?}");
    assert!(matches!(answer, Ok(Response::Disconnected)), "{answer:?}");
    assert!(
        took < Duration::from_secs(1),
        "disconnect took {took:?} while an endpoint name resolved\n{}",
        lab.log()
    );
    // The Plan that was resolving when the user disconnected is not applied afterwards.
    match applying.await.unwrap() {
        Err(ClientError::Daemon { code, message }) => {
            assert_eq!(code, ErrorCode::Failed);
            assert!(message.contains("disconnected"), "{message}");
        }
        other => panic!("the apply after the disconnect: {other:?}\n{}", lab.log()),
    }
    assert!(
        !lab.link_exists(&lab.wg),
        "the tunnel came up after the disconnect"
    );
    assert!(lab.routes().is_empty());
    assert!(!lab.state_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_into_a_routed_range_loses_that_range() {
    require_root!();
    let mut lab = Lab::new(2);
    // node-2's endpoint name points into node-1's pod range: routing that range into the tunnel
    // would send node-2's own WireGuard packets into the tunnel.
    let inside: Ipv4Addr = Ipv4Addr::new(10, 42, 1, 7);
    let _dns = SlowDns::start(
        &lab.laptop,
        &[
            ("node-1.slow.test", Ipv4Addr::new(198, 18, 1, 2)),
            ("node-2.slow.test", inside),
        ],
        Duration::ZERO,
    );
    lab.start_daemon();
    let mut client = lab.client().await;
    match client.request(&lab.apply_request(named_plan(&lab, 2))).await {
        Ok(Response::Applied { .. }) => {}
        other => panic!("apply: {other:?}\n{}", lab.log()),
    }
    assert_eq!(
        lab.routes(),
        nets(&["10.4.0.1/32", "10.4.0.2/32", "10.42.2.0/24"]),
        "10.42.1.0/24 contains the address node-2.slow.test resolved to\n{}",
        lab.log()
    );
    let status = lab.status().await;
    let warning = status.warnings.iter().find(|w| w.contains("10.42.1.0/24"));
    assert!(
        warning
            .is_some_and(|w| w.contains("node-2.slow.test") && w.contains(&IpAddr::V4(inside).to_string())),
        "a warning names the range, the name and its address: {:?}",
        status.warnings
    );
    assert!(!status.routes.contains(&"10.42.1.0/24".parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_names_resolve_stops_the_daemon_at_once() {
    require_root!();
    let mut lab = Lab::new(2);
    let _dns = SlowDns::start(
        &lab.laptop,
        &[
            ("node-1.slow.test", Ipv4Addr::new(198, 18, 1, 2)),
            ("node-2.slow.test", Ipv4Addr::new(198, 18, 2, 2)),
        ],
        DELAY,
    );
    lab.start_daemon();
    let request = lab.apply_request(named_plan(&lab, 2));
    let mut client = lab.client().await;
    let applying = tokio::spawn(async move { client.request(&request).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let status = lab.signal_daemon(nix::sys::signal::Signal::SIGTERM);
    let took = started.elapsed();
    eprintln!("MEASURE SIGTERM while 2 names of {DELAY:?} resolve: exited after {took:?}");
    // Everything is removed at once; the runtime then gives a lookup still under way in a blocking
    // thread (getaddrinfo cannot be cancelled) its 1 s of grace before the process exits.
    assert!(
        took < Duration::from_secs(2),
        "kubewired took {took:?} to stop on SIGTERM while endpoint names resolved\n{}",
        lab.log()
    );
    assert!(status.success(), "exit status {status:?}\n{}", lab.log());
    assert!(applying.await.unwrap().is_err(), "the Plan was not applied");
    assert!(!lab.link_exists(&lab.wg), "no interface left");
    assert!(lab.routes().is_empty());
    assert!(!lab.state_file().exists());
}
