#![allow(clippy::unwrap_used)]

//! The lab's own life cycle, on a lab of its own (run by `cargo xtask test` while no other lab is up):
//! `up` after a crashed controller cleans up first; `down` leaves no namespace, WireGuard socket or
//! process behind, also of a second cluster and after an `up` killed halfway through it.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests here each bring up a lab of their own: one at a time.
static ONE_LAB: Mutex<()> = Mutex::new(());

fn lab(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubewire-lab"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("kw-"))
        .map(str::to_string)
        .collect()
}

fn wg_sockets() -> Vec<String> {
    std::fs::read_dir("/var/run/wireguard")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("kwg-"))
                .collect()
        })
        .unwrap_or_default()
}

fn processes_mentioning(dir: &Path) -> Vec<String> {
    // The lab's processes: wireguard-go for kwg-* interfaces, pod servers and unbound with the lab's files.
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let ours = cmdline.contains(&*dir.to_string_lossy())
            || (cmdline.starts_with("wireguard-go kwg-"))
            || cmdline.contains("kubewire-lab pod-http");
        if ours && !cmdline.contains("lifecycle") {
            found.push(cmdline);
        }
    }
    found
}

#[test]
#[ignore = "needs root and no running lab: cargo xtask test"]
fn up_after_a_crash_cleans_up_and_down_leaves_nothing() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert!(
        namespaces().is_empty(),
        "another lab is running: {:?}",
        namespaces()
    );

    let (ok, text) = lab(dir, &["up"]);
    assert!(ok, "{text}");
    assert!(namespaces().contains(&"kw-laptop".to_string()));
    assert_eq!(wg_sockets().len(), 4, "{:?}", wg_sockets());

    // Crash: the controller dies without tearing anything down.
    let pid: i32 = std::fs::read_to_string(dir.join("controller.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !namespaces().is_empty(),
        "the crash left the lab's namespaces behind"
    );
    let (ok, text) = lab(dir, &["status"]);
    assert!(ok && text.contains("not running, but these are left"), "{text}");

    let (ok, text) = lab(dir, &["up", "--nodes-per-location", "2"]);
    assert!(ok, "{text}");
    assert!(text.contains("cleaning up after an earlier lab"), "{text}");
    assert_eq!(wg_sockets().len(), 8, "{:?}", wg_sockets());

    let (ok, text) = lab(dir, &["down"]);
    assert!(ok, "{text}");
    assert!(namespaces().is_empty(), "{:?}", namespaces());
    assert!(wg_sockets().is_empty(), "{:?}", wg_sockets());
    assert!(
        processes_mentioning(dir).is_empty(),
        "{:?}",
        processes_mentioning(dir)
    );
    let (ok, text) = lab(dir, &["status"]);
    assert!(ok && text.contains("nothing of it is left"), "{text}");

    // `down` with nothing up is fine too.
    let (ok, text) = lab(dir, &["down"]);
    assert!(ok, "{text}");
}

#[test]
#[ignore = "needs root and no running lab: cargo xtask test"]
fn two_clusters_come_up_and_down_and_an_up_killed_halfway_through_b_leaves_nothing_after_down() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert!(
        namespaces().is_empty(),
        "another lab is running: {:?}",
        namespaces()
    );

    // `up` and its controller both die while cluster b is half built (its first node stands).
    let mut up = Command::new(env!("CARGO_BIN_EXE_kubewire-lab"))
        .arg("--dir")
        .arg(dir)
        .args(["up", "--clusters", "2"])
        .env("KUBEWIRE_LAB_FAULT", "half-built-b")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let halfway =
        || std::fs::read_to_string(dir.join("lab.log")).is_ok_and(|l| l.contains("KUBEWIRE_LAB_FAULT"));
    while !halfway() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(halfway(), "the controller never reached the fault point");
    up.kill().unwrap();
    up.wait().unwrap();
    let pid = std::fs::read_to_string(dir.join("controller.pid")).unwrap();
    Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let left = namespaces();
    for ns in ["kw-n-aws", "kw-n-b-aliyun", "kw-p-b-aliyun"] {
        assert!(left.contains(&ns.to_string()), "{ns} not built: {left:?}");
    }
    assert!(!left.contains(&"kw-n-b-aws".to_string()), "{left:?}");
    assert!(
        wg_sockets().contains(&"kwg-b-aliyun.sock".to_string()),
        "{:?}",
        wg_sockets()
    );
    let (ok, text) = lab(dir, &["down"]);
    assert!(ok, "{text}");
    assert!(namespaces().is_empty(), "{:?}", namespaces());
    assert!(wg_sockets().is_empty(), "{:?}", wg_sockets());
    assert!(
        processes_mentioning(dir).is_empty(),
        "{:?}",
        processes_mentioning(dir)
    );

    // Two clusters of two nodes per location: 16 nodes, both in `status`, none left after `down`.
    let (ok, text) = lab(dir, &["up", "--clusters", "2", "--nodes-per-location", "2"]);
    assert!(ok, "{text}");
    assert_eq!(wg_sockets().len(), 16, "{:?}", wg_sockets());
    assert!(
        wg_sockets().contains(&"kwg-b-aws-2.sock".to_string()),
        "{:?}",
        wg_sockets()
    );
    let (ok, text) = lab(dir, &["status"]);
    assert!(
        ok && text.contains("context kubewire-lab-b") && text.contains("b-gcp-2"),
        "{text}"
    );
    let (ok, text) = lab(dir, &["down"]);
    assert!(ok, "{text}");
    assert!(namespaces().is_empty(), "{:?}", namespaces());
    assert!(wg_sockets().is_empty(), "{:?}", wg_sockets());
    assert!(
        processes_mentioning(dir).is_empty(),
        "{:?}",
        processes_mentioning(dir)
    );
}
