//! Removing everything the lab creates, whether the controller is alive, crashed or never finished:
//! recorded processes, every `kw-*` namespace (and the processes in it),
//! WireGuard sockets of the lab's interfaces, per-namespace resolver files, the control socket.

use std::path::Path;

use super::ns;
use super::procs;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Prefix of the lab's WireGuard interfaces (`kwg-<node>`).
pub const WG_PREFIX: &str = "kwg-";
/// Prefix of test namespaces' WireGuard interfaces.
pub const TEST_WG_PREFIX: &str = "kwt-";

/// Removes everything; errors are logged, never fatal (this runs when things are already broken).
pub fn sweep(dir: &Path) {
    procs::kill_recorded(dir);
    let namespaces = ns::list_lab().unwrap_or_default();
    for name in &namespaces {
        for pid in ns::pids(name) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for name in &namespaces {
        if let Err(e) = ns::delete(name) {
            tracing::warn!(namespace = %name, error = %e, "could not delete namespace");
        }
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
    }
    for socket in wg_sockets() {
        let _ = std::fs::remove_file(socket);
    }
    let _ = std::fs::remove_file(dir.join("control.sock"));
}

fn wg_sockets() -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir("/var/run/wireguard") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(WG_PREFIX) || n.starts_with(TEST_WG_PREFIX))
        })
        .collect()
}

/// What of the lab still exists (empty when the machine is clean).
pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = ns::list_lab()
        .unwrap_or_default()
        .into_iter()
        .map(|n| format!("network namespace {n}"))
        .collect();
    out.extend(
        wg_sockets()
            .into_iter()
            .map(|p| format!("WireGuard socket {}", p.display())),
    );
    out.extend(
        procs::recorded_alive(dir)
            .into_iter()
            .map(|(pid, p)| format!("process {pid} ({p})")),
    );
    out
}
