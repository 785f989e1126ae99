//! Helpers for kubewire's end-to-end tests: the real `kubewired` in the lab's laptop namespace, the real
//! `kubewire` CLI next to it, and cleanup that runs even when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kubewire_lab::desc::LabDescription;
use kubewire_netns_testing::{Daemon, DaemonSpec};

/// The lab's kubeconfig context, and so the name of the laptop's connection to it.
pub const CONNECTION: &str = "kubewire-lab";

/// The laptop's WireGuard interface for the lab's connection: `kubewire-kubewire-lab` is longer than
/// IFNAMSIZ, so `kw-<first 7>-<hash>` ([`kubewire_core::connection::interface_name`]; checked by
/// the test below).
pub const IFACE: &str = "kw-kubewir-4027";

#[cfg(test)]
mod tests {
    #[test]
    fn the_lab_connections_interface_is_the_rules() {
        assert_eq!(
            kubewire_core::connection::interface_name(&kubewire_core::connection::connection_name(
                super::CONNECTION
            )),
            super::IFACE
        );
    }
}

/// Where the workspace's binaries are (`KUBEWIRE_BIN_DIR`, else `target/debug`).
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("KUBEWIRE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    dir.join(name)
}

/// Runs a command and returns its output; panics only if it cannot start.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run {}: {e}", program.display()),
    }
}

/// Text of an output (stdout then stderr).
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub use kubewire_lab::testing::{Restore, wait_until};

pub mod desktop;
pub mod resolved;

/// A running `kubewired` in the laptop namespace plus the user side's files, torn down on drop
/// (disconnect, daemon stopped by PID, interface and state removed).
pub struct Laptop {
    pub lab: LabDescription,
    pub dir: tempfile::TempDir,
    daemon: Option<Daemon>,
    /// How the daemon and [`Laptop::exec`] enter the laptop (default: `ip netns exec <laptop>`).
    enter: Option<Vec<String>>,
    /// Extra environment for the daemon.
    daemon_env: Vec<(String, String)>,
}

impl Laptop {
    /// Starts the daemon in `kw-laptop` with its own socket and state dir.
    pub fn start() -> Self {
        Self::start_entered(None, Vec::new())
    }

    /// Starts the daemon through `enter` (a command prefix that enters the laptop namespace, e.g.
    /// a private mount namespace of it) with extra environment.
    pub fn start_entered(enter: Option<Vec<String>>, daemon_env: Vec<(String, String)>) -> Self {
        let lab = kubewire_lab::testing::lab().unwrap_or_else(|e| panic!("{e}"));
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let mut laptop = Laptop {
            lab,
            dir,
            daemon: None,
            enter,
            daemon_env,
        };
        laptop.start_daemon();
        laptop
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("kubewired.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// (Re)starts the daemon and waits for its socket (the harness's one launcher).
    pub fn start_daemon(&mut self) {
        let mut env = self.daemon_env.clone();
        // Without its own resolv.conf the namespace sees the host's: never let the daemon change it.
        if !self.resolv_conf_path().exists() {
            env.push(("KUBEWIRE_DNS_BACKEND".into(), "none".into()));
        }
        let spec = DaemonSpec {
            exe: bin("kubewired"),
            enter: self.enter_prefix(),
            socket: self.socket(),
            state_dir: self.state_dir(),
            args: Vec::new(),
            env,
            log: self.dir.path().join("kubewired.log"),
        };
        match Daemon::start(&spec) {
            Ok(daemon) => self.daemon = Some(daemon),
            Err(e) => panic!("{e}"),
        }
    }

    fn enter_prefix(&self) -> Vec<String> {
        self.enter.clone().unwrap_or_else(|| {
            vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.lab.laptop_netns.clone(),
            ]
        })
    }

    /// The laptop namespace's own resolv.conf (`ip netns exec` shows it as `/etc/resolv.conf`).
    pub fn resolv_conf_path(&self) -> PathBuf {
        Path::new("/etc/netns")
            .join(&self.lab.laptop_netns)
            .join("resolv.conf")
    }

    /// Its bytes now (empty if it cannot be read).
    pub fn resolv_conf(&self) -> Vec<u8> {
        std::fs::read(self.resolv_conf_path()).unwrap_or_default()
    }

    /// The daemon's PID (`ip netns exec` execs it in place).
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Daemon::pid)
    }

    /// The daemon's log so far.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kubewired.log")).unwrap_or_default()
    }

    /// The detached controller's log (`connect --detach`), empty when there is none.
    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("home/.local/state/kubewire/controller.log"))
            .unwrap_or_default()
    }

    /// SIGKILL the daemon (a crash); returns its PID.
    pub fn crash_daemon(&mut self) -> u32 {
        let Some(daemon) = self.daemon.take() else {
            panic!("no daemon")
        };
        daemon.crash()
    }

    /// SIGTERM the daemon and wait for it (SIGKILL after 10 s).
    pub fn stop_daemon(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.take()?.stop()
    }

    /// The environment of the user side: its own HOME and XDG dirs (keys, pid and log files).
    pub fn user_env(&self) -> Vec<(&'static str, PathBuf)> {
        let home = self.dir.path().join("home");
        vec![
            ("HOME", home.clone()),
            ("XDG_CONFIG_HOME", home.join(".config")),
            ("XDG_STATE_HOME", home.join(".local/state")),
            ("XDG_DATA_HOME", home.join(".local/share")),
            ("XDG_RUNTIME_DIR", home.join("run")),
            ("KUBEWIRE_STATE_DIR", home.join(".local/state/kubewire")),
            ("KUBECONFIG", self.lab.kubeconfig.clone()),
        ]
    }

    /// `kubewire --socket S ARGS…` in the laptop namespace.
    pub fn kubewire(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let socket = socket.to_string_lossy();
        let cli = bin("kubewire");
        let cli = cli.to_string_lossy();
        let mut all = vec!["netns", "exec", &self.lab.laptop_netns, &cli, "--socket", &socket];
        all.extend_from_slice(args);
        let env = self.user_env();
        let home = self.dir.path().join("home");
        let _ = std::fs::create_dir_all(home.join("run"));
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        run(Path::new("ip"), &all, &env)
    }

    /// `kubewire connect --detach`, asserting success.
    pub fn connect(&self, extra: &[&str]) -> String {
        let mut args = vec!["connect", "--detach"];
        args.extend_from_slice(extra);
        let out = self.kubewire(&args);
        assert!(
            out.status.success(),
            "connect failed: {}\ndaemon log:\n{}",
            text(&out),
            self.daemon_log()
        );
        text(&out)
    }

    /// `kubewire status --json`.
    pub fn status(&self) -> serde_json::Value {
        let out = self.kubewire(&["status", "--json"]);
        assert!(out.status.success(), "status failed: {}", text(&out));
        match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => panic!("status --json is not JSON ({e}): {}", text(&out)),
        }
    }

    /// Runs a program inside the laptop namespace.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let Some(enter) = &self.enter else {
            return kubewire_lab::testing::exec(&self.lab.laptop_netns, program, args);
        };
        let out = Command::new(&enter[0])
            .args(&enter[1..])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(text(&out))
        }
    }

    /// The routes through the laptop's WireGuard interface, as prefixes.
    pub fn tunnel_routes(&self) -> std::collections::BTreeSet<String> {
        self.exec("ip", &["route", "show", "dev", IFACE])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|p| {
                if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/32")
                }
            })
            .collect()
    }

    pub fn interface_exists(&self) -> bool {
        self.exec("ip", &["link", "show", IFACE]).is_ok()
    }

    /// The lab's Peers that kubewire manages, printed with `kubectl -o <output>` (`name`, a jsonpath).
    pub fn kubewire_peers(&self, output: &str) -> Result<String, String> {
        self.kubectl(&["get", "peers.kilo.squat.ai", "-l", MANAGED_BY, "-o", output])
    }

    /// `kubectl` against the lab with the lab's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let kc = self.lab.kubeconfig.to_string_lossy().to_string();
        let mut all = vec!["--kubeconfig", kc.as_str(), "--request-timeout=10s"];
        all.extend_from_slice(args);
        let out = run(Path::new("kubectl"), &all, &[]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(text(&out))
        }
    }
}

impl Drop for Laptop {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            let _ = self.kubewire(&["disconnect"]);
            let _ = self.stop_daemon();
        }
        // Whatever a failed test left: the interface (its socket) and kubewire's Peers.
        let _ = self.exec("ip", &["link", "del", IFACE]);
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{IFACE}.sock"));
        let _ = self.kubectl(&["delete", "peers", "-l", MANAGED_BY, "--ignore-not-found"]);
    }
}

/// The label selector of the Peers kubewire manages.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=kubewire";

/// The routes the laptop must have in this lab: every ready node's pod CIDR and internal IP, every
/// leader's Kilo IP, and the service CIDR. Computed from `lab.json`, independently of kubewire.
pub fn expected_routes(lab: &LabDescription) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for n in lab.nodes.iter().filter(|n| n.ready) {
        out.insert(n.pod_cidr.clone());
        out.insert(format!("{}/32", n.internal_ip));
        if let Some(wg) = &n.wireguard_ip {
            out.insert(format!("{}/32", wg.split('/').next().unwrap_or_default()));
        }
    }
    out.insert(lab.service_cidr.clone());
    out
}
