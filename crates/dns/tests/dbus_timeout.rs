//! A wedged system bus (issue 12, item 11): a bus socket that accepts connections and never answers.
//! Choosing the DNS backend and talking to systemd-resolved must give up within seconds (the daemon
//! calls them while it applies a Plan), not wait forever. The bus address comes from
//! `DBUS_SYSTEM_BUS_ADDRESS`, so the calls run in a child process of this test (the helper below)
//! with that variable pointing at the test's silent socket. Needs no root.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubewire_dns::os::linux::resolved;
use kubewire_dns::{BackendKind, OsDns, OsPaths};

/// How long the helper may take in all (old code: forever).
const WITHIN: Duration = Duration::from_secs(12);

#[test]
fn a_system_bus_that_never_answers_costs_seconds_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let bus = dir.path().join("system_bus_socket");
    let listener = UnixListener::bind(&bus).unwrap();
    // Accept every connection and keep it open without a word (a wedged dbus-daemon).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_talks_to_the_bus_given",
            "--ignored",
            "--nocapture",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={}", bus.display()))
        .env_remove("KUBEWIRE_DNS_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        status.is_some(),
        "backend detection and a resolved call still waited for a silent system bus after {WITHIN:?}: \
         no timeout on D-Bus\n{out}"
    );
    eprintln!(
        "MEASURE a silent system bus: detection and one resolved call gave up in {:?}",
        started.elapsed()
    );
    assert!(
        out.contains("DETECTED ResolvConf"),
        "without an answer from the bus, resolv.conf is chosen: {out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("EXECUTE "))
        .unwrap_or_default();
    assert!(
        line.contains("Err") && line.contains("within"),
        "a resolved call on a silent bus is an error that says it timed out: {out}"
    );
}

/// Run by the test above with `DBUS_SYSTEM_BUS_ADDRESS` set: detects the backend, then makes one
/// resolved call, printing what each returned.
#[tokio::test]
#[ignore = "helper: run by a_system_bus_that_never_answers_costs_seconds_not_a_hang"]
async fn helper_talks_to_the_bus_given() {
    if std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none() {
        return;
    }
    let os = OsDns::detect(OsPaths::default()).await;
    println!("DETECTED {:?}", os.kind());
    assert_ne!(os.kind(), BackendKind::Resolved);
    let result = resolved::execute(&resolved::revert_calls(1)).await;
    println!("EXECUTE {:?}", result.map_err(|e| e.to_string()));
}
