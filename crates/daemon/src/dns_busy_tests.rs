//! The split DNS keeps answering while the daemon's runtime is busy with a blocking call (issue 12,
//! item 11): `ip`, an fsync, a user lookup through NSS or a slow D-Bus peer can hold a runtime thread
//! for seconds, and names must not stop resolving meanwhile. The daemon's runtime here is a
//! current-thread one, blocked on purpose for 3 s; a query sent from another thread must still be
//! answered. Runs in a network namespace of its own (root; `KUBEWIRE_TESTS_STRICT=1` turns the skip
//! into a failure), since the resolver listens on the fixed 127.0.2.53:53.
#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kubewire_dns::{BackendKind, LOOPBACK_LISTEN};

use crate::dns::{DnsOptions, DnsSession, os_paths};
use crate::persist::{Journal, State};
use crate::policy::tests::plan;

/// A DNS query for `example.test` A, by hand.
fn query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["example", "test"] {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Sends the query from a thread of its own and returns how long the answer took (`None`: none
/// within 2 s).
fn ask_from_another_thread() -> std::thread::JoinHandle<Option<Duration>> {
    std::thread::spawn(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let started = Instant::now();
        socket.send_to(&query(), LOOPBACK_LISTEN).unwrap();
        let mut buf = [0u8; 512];
        match socket.recv_from(&mut buf) {
            Ok((n, _)) if n >= 12 && buf[..2] == [0x12, 0x34] => Some(started.elapsed()),
            _ => None,
        }
    })
}

#[test]
fn names_are_answered_while_the_daemons_runtime_is_blocked() {
    if !nix::unistd::getuid().is_root() {
        assert!(
            std::env::var_os("KUBEWIRE_TESTS_STRICT").is_none(),
            "needs root (a network namespace), and KUBEWIRE_TESTS_STRICT is set"
        );
        eprintln!("skipped: needs root (a network namespace)");
        return;
    }
    // This test's thread (and every thread it starts) gets a network namespace of its own.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(up.success());

    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = DnsOptions {
        paths: os_paths(dir.path()),
        backend: Some(BackendKind::None),
    };
    let mut p = plan(&[("aws", "192.0.2.10:51820", &["10.4.0.1/32", "10.43.0.0/16"])]);
    p.dns.server = Some("10.43.0.10".parse().unwrap());
    let state_file = Journal::new(dir.path());
    let session = runtime
        .block_on(DnsSession::start(
            &options,
            &p,
            &state_file,
            &State::new("kwdtest0", None, []),
        ))
        .unwrap();

    // Idle runtime: answered.
    let idle = runtime.block_on(async {
        let asked = ask_from_another_thread();
        while !asked.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        asked.join().unwrap()
    });
    assert!(idle.is_some(), "the resolver answers at all");

    // The runtime's only thread is stuck in a blocking call for 3 s.
    let asked = ask_from_another_thread();
    runtime.block_on(async { std::thread::sleep(Duration::from_secs(3)) });
    let busy = asked.join().unwrap();
    eprintln!("MEASURE a query while the daemon's runtime is blocked for 3 s: answered after {busy:?}");
    assert!(
        busy.is_some(),
        "no answer within 2 s while the daemon's runtime was blocked: the resolver runs on it"
    );
    runtime.block_on(session.stop()).unwrap();
}
