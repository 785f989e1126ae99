//! A real systemd-resolved with its own D-Bus for the lab's laptop namespace: a holder process keeps a
//! private mount namespace inside the network namespace; `/run/dbus`, `/run/systemd`, `/etc/resolv.conf` (the stub, 127.0.0.53) and
//! `/etc/systemd/resolved.conf` (global DNS = the lab's ISP resolver) are private to it. Everything
//! that must see this resolved (kubewired, getent, dig) runs through [`ResolvedNs::enter`].
//! The resolved binary comes from `crates/dns/tests/resolved/setup.sh` (`cargo xtask setup`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::wait_until;

/// Where setup.sh extracts Debian's systemd-resolved (`KUBEWIRE_RESOLVED` overrides).
pub fn resolved_root() -> PathBuf {
    std::env::var_os("KUBEWIRE_RESOLVED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kubewire-test/systemd-resolved"))
}

/// The system bus of the resolved test setup, shared with `crates/dns/tests/resolved/e2e.sh`.
const BUS_CONF: &str = include_str!("../../crates/dns/tests/resolved/bus.conf");

/// The holder, dbus-daemon and systemd-resolved, killed by PID on drop.
pub struct ResolvedNs {
    holder: Child,
    daemons: Vec<Child>,
    pub dir: tempfile::TempDir,
}

fn spawn(args: &[String], log: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let copy = log.try_clone().map_err(|e| e.to_string())?;
    Command::new(&args[0])
        .args(&args[1..])
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(copy)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", args[0]))
}

impl ResolvedNs {
    /// Starts it all in `netns` with `upstream` as resolved's global DNS server; `Err` says what is
    /// missing.
    pub fn start(netns: &str, upstream: &str) -> Result<Self, String> {
        let resolved = resolved_root().join("lib/systemd/systemd-resolved");
        if !resolved.exists() {
            return Err(format!(
                "{} missing: run crates/dns/tests/resolved/setup.sh",
                resolved.display()
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let _ = std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let etc_systemd = dir.path().join("etc-systemd");
        std::fs::create_dir_all(&etc_systemd).map_err(|e| e.to_string())?;
        std::fs::write(
            etc_systemd.join("resolved.conf"),
            format!(
                "[Resolve]\nDNS={upstream}\nFallbackDNS=\nLLMNR=no\nMulticastDNS=no\nDNSSEC=no\nCache=no\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.path().join("resolv.conf"),
            "nameserver 127.0.0.53\noptions edns0\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("bus.conf"), BUS_CONF).map_err(|e| e.to_string())?;
        let holder = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "unshare",
                "-m",
                "--propagation",
                "private",
            ])
            .args(["sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let mut ns = ResolvedNs {
            holder,
            daemons: Vec::new(),
            dir,
        };
        let pid = ns.holder.id().to_string();
        // The holder's mount namespace exists once `unshare` has exec'd `sleep`.
        let unshared = wait_until(Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.to_string_lossy().contains("sleep"))
        });
        if !unshared {
            return Err("the namespace holder did not start".into());
        }
        let d = ns.dir.path().display().to_string();
        let mounts = format!(
            "set -e
             mkdir -p /run/dbus && mount -t tmpfs tmpfs /run/dbus
             mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd
             mkdir -p /run/systemd/resolve && chown systemd-resolve:systemd-resolve /run/systemd/resolve
             mount --bind '{d}/resolv.conf' /etc/resolv.conf
             mount --bind '{d}/etc-systemd' /etc/systemd"
        );
        let out = ns.run("sh", &["-c", &mounts])?;
        if !out.status.success() {
            return Err(format!("mounts: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let mut dbus = ns.enter();
        dbus.extend([
            "dbus-daemon".into(),
            format!("--config-file={d}/bus.conf"),
            "--nofork".into(),
            "--nopidfile".into(),
        ]);
        ns.daemons.push(spawn(&dbus, &ns.dir.path().join("dbus.log"))?);
        let bus = wait_until(Duration::from_secs(5), || {
            ns.run("test", &["-S", "/run/dbus/system_bus_socket"])
                .is_ok_and(|o| o.status.success())
        });
        if !bus {
            return Err("dbus-daemon did not start".into());
        }
        let mut resolved_cmd = ns.enter();
        resolved_cmd.push(resolved.to_string_lossy().into_owned());
        ns.daemons
            .push(spawn(&resolved_cmd, &ns.dir.path().join("resolved.log"))?);
        let up = wait_until(Duration::from_secs(5), || ns.resolvectl(&["status"]).is_ok());
        if !up {
            return Err(format!(
                "systemd-resolved did not start: {}",
                std::fs::read_to_string(ns.dir.path().join("resolved.log")).unwrap_or_default()
            ));
        }
        Ok(ns)
    }

    /// The command prefix that enters the holder's network and mount namespaces.
    pub fn enter(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            "-t".into(),
            self.holder.id().to_string(),
            "-m".into(),
            "-n".into(),
        ]
    }

    /// Runs `program` in the namespaces.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let enter = self.enter();
        Command::new(&enter[0])
            .args(&enter[1..])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("nsenter: {e}"))
    }

    /// `resolvectl ARGS` (the extracted package's) in the namespaces: stdout, or the error text.
    pub fn resolvectl(&self, args: &[&str]) -> Result<String, String> {
        let resolvectl = resolved_root().join("usr/bin/resolvectl");
        let out = self.run(&resolvectl.to_string_lossy(), args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for ResolvedNs {
    fn drop(&mut self) {
        for child in self.daemons.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The mounts go with the holder's mount namespace.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
