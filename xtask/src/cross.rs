//! The Windows build checked on Linux: `cargo clippy --target x86_64-pc-windows-gnu` of every crate
//! that ships to Windows (the core, the user side, the daemon with its service shell, the tunnel's
//! and DNS's Windows files, the named-pipe transport, the tray process). It type-checks and lints
//! the `cfg(windows)` code; nothing runs. (macOS cannot be checked here: ring's C needs the macOS SDK headers.)

use anyhow::Result;

use crate::sh;

const TARGET: &str = "x86_64-pc-windows-gnu";

/// The crates that ship to Windows (the tray's window, kubewire-window, is built on a Windows
/// runner only: WebView2; the tray process has no webview and is checked here).
const CRATES: &[&str] = &[
    "kubewire-core",
    "kubewire-cluster",
    "kubewire-ipc",
    "kubewire-tunnel",
    "kubewire-dns",
    "kubewire-daemon",
    "kubewire-cli",
    "kubewire-tray",
];

/// Adds the Windows target to the toolchain when missing.
pub fn setup() -> Result<()> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if !installed {
        sh::run("rustup", &["target", "add", TARGET])?;
    }
    Ok(())
}

/// Lints the Windows build (libraries and binaries; the tests need the Linux-only lab).
pub fn check_windows() -> Result<()> {
    let mut args = vec!["clippy", "--target", TARGET];
    for krate in CRATES {
        args.extend(["-p", krate]);
    }
    args.extend(["--", "-D", "warnings"]);
    sh::cargo(&args)
}
