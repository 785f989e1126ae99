//! resolved mode end to end: `tests/resolved/e2e.sh` against a real systemd-resolved with its own
//! D-Bus in a `kwn-` namespace (root; skipped unless `tests/resolved/setup.sh` has been run or
//! `KUBEWIRE_RESOLVED` points at an extracted systemd-resolved package).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn resolved_mode_end_to_end() {
    let root =
        std::env::var("KUBEWIRE_RESOLVED").unwrap_or_else(|_| "/opt/kubewire-test/systemd-resolved".into());
    let resolved = PathBuf::from(&root).join("lib/systemd/systemd-resolved");
    let has_dbus = Command::new("sh")
        .args(["-c", "command -v dbus-daemon nsenter unshare"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::can_run() || !resolved.exists() || !has_dbus {
        common::strict_skip("needs root, dbus-daemon and tests/resolved/setup.sh");
        eprintln!("skipped: needs root, dbus-daemon and tests/resolved/setup.sh");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/resolved/e2e.sh");
    let out = Command::new("timeout")
        .arg("120")
        .arg("bash")
        .arg(script)
        .arg(common::Lab::dnsd())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("resolved e2e: all passed"));
}
