#![allow(clippy::unwrap_used)]

//! `kubewire doctor` on a healthy connection in the lab (issue 16 item 5): every check passes and
//! none warns (the laptop's own Peer, skipped on every connect, is not a warning), in `--json` and
//! in text; the clock, local-network and OS-resolver checks are there. Run by `cargo xtask test` with the lab up
//! (`--ignored --test-threads=1`), on the default lab.

use kubewire_e2e::{Laptop, text, wait_until};
use std::time::Duration;

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_healthy_connection_passes_every_check_without_a_warning() {
    let laptop = Laptop::start();
    laptop.connect(&[]);
    // Every segment's first handshake, so the handshake and MTU checks have something to judge.
    assert!(
        wait_until(Duration::from_secs(30), || {
            laptop.status()["daemon"]["peers"]
                .as_array()
                .is_some_and(|p| !p.is_empty() && p.iter().all(|p| p["last_handshake_secs"].is_u64()))
        }),
        "no handshake with every segment: {}",
        laptop.status()
    );
    let out = laptop.kubewire(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}): {}", text(&out)));
    let checks = v["checks"].as_array().unwrap();
    let not_ok: Vec<&serde_json::Value> = checks.iter().filter(|c| c["status"] != "ok").collect();
    assert!(
        not_ok.is_empty(),
        "a healthy connection warns or fails: {not_ok:#?}\nall: {v:#}"
    );
    assert!(out.status.success(), "{}", text(&out));
    for name in [
        "daemon reachable and authorised",
        "clock",
        "nodes ready",
        "handshakes",
        "path MTU",
        "local networks",
        "DNS through this machine's resolver",
    ] {
        assert!(checks.iter().any(|c| c["name"] == name), "no {name} check: {v:#}");
    }
    let out = laptop.kubewire(&["doctor"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && shown.contains("all checks passed"),
        "{}",
        text(&out)
    );
    assert!(
        !shown.contains(" · ") && !shown.contains("skipped"),
        "the text shows a remark: {shown}"
    );
}
