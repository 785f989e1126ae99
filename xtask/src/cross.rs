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

fn installed() -> bool {
    std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false)
}

/// Adds the Windows target to the toolchain when missing. `rustup target add` downloads from outside
/// the package registries a CI machine may reach: when it fails, setup goes on and says so loudly
/// (the Windows lint then skips, see [`check_windows`]).
pub fn setup() -> Result<()> {
    if !installed() && !sh::try_run("rustup", &["target", "add", TARGET]) {
        eprintln!(
            "\n*** WARNING: `rustup target add {TARGET}` failed (no network to Rust's distribution server?): \
             the Windows lint will be SKIPPED ***\n"
        );
    }
    Ok(())
}

/// Lints the Windows build (libraries and binaries; the tests need the Linux-only lab). Skipped, loudly,
/// when the Windows target could not be installed.
pub fn check_windows() -> Result<()> {
    if !installed() {
        eprintln!(
            "\n*** SKIPPED: the Windows lint (cargo clippy --target {TARGET}): the target is not installed \
             and `rustup target add {TARGET}` could not fetch it; everything else runs ***\n"
        );
        return Ok(());
    }
    let mut args = vec!["clippy", "--target", TARGET];
    for krate in CRATES {
        args.extend(["-p", krate]);
    }
    args.extend(["--", "-D", "warnings"]);
    sh::cargo(&args)
}
