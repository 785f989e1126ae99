//! NetworkManager mode end to end: `tests/networkmanager/e2e.sh` against a real NetworkManager
//! (DNS mode dnsmasq) with its own D-Bus in a `kwn-` namespace (root; skipped unless
//! `tests/networkmanager/setup.sh` has been run or `KUBEWIRE_NETWORKMANAGER` points at an
//! extracted package, and dnsmasq is installed).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn networkmanager_mode_end_to_end() {
    let root = std::env::var("KUBEWIRE_NETWORKMANAGER")
        .unwrap_or_else(|_| "/opt/kubewire-test/network-manager".into());
    let nm = PathBuf::from(&root).join("usr/sbin/NetworkManager");
    let has_tools = Command::new("sh")
        .args(["-c", "command -v dbus-daemon nsenter unshare dnsmasq"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::can_run() || !nm.exists() || !has_tools {
        common::strict_skip("needs root, dbus-daemon, dnsmasq and tests/networkmanager/setup.sh");
        eprintln!("skipped: needs root, dbus-daemon, dnsmasq and tests/networkmanager/setup.sh");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/networkmanager/e2e.sh");
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
    assert!(text.contains("networkmanager e2e: all passed"));
}
