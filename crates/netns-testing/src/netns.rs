//! A network namespace of one test, removed with everything running in it on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cmd::{check, output};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `<prefix><pid><n>`: unique among this process's namespaces and, by the PID, among concurrent
/// test processes. Keep `prefix` short: interface names derived from it have 15 bytes at most.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{:x}{}",
        std::process::id() % 0x1000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace with `lo` up. On drop: its children and every other process inside it are
/// killed (SIGKILL by PID), the namespace is deleted, and so is its `/etc/netns/<name>`.
#[derive(Debug)]
pub struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    /// Creates namespace `name`; a leftover of the same name (a killed earlier run) is removed first.
    pub fn create(name: &str) -> Result<Self, String> {
        let _ = output(&["ip", "netns", "del", name]);
        check(&["ip", "netns", "add", name])?;
        // From here on, drop cleans up.
        let ns = Self {
            name: name.to_owned(),
            children: Vec::new(),
        };
        ns.check(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Creates a namespace named by [`unique_name`]`(prefix)`.
    pub fn unique(prefix: &str) -> Result<Self, String> {
        Self::create(&unique_name(prefix))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <name>` followed by `args`, for a command built by the caller.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        cmd
    }

    /// Runs `args` inside; its output, whatever its exit status.
    pub fn output(&self, args: &[&str]) -> Result<Output, String> {
        self.command(args)
            .output()
            .map_err(|e| format!("cannot run {args:?} in {}: {e}", self.name))
    }

    /// Runs `args` inside; stdout when it succeeds, else an error with its stderr.
    pub fn check(&self, args: &[&str]) -> Result<String, String> {
        let out = self.output(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{args:?} in {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Adds `cidr` (e.g. `198.18.1.1/24`) to `dev`.
    pub fn addr(&self, cidr: &str, dev: &str) -> Result<(), String> {
        self.check(&["ip", "addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// A veth pair: `here` in this namespace with `here_cidr`, `there` in `peer` with `there_cidr`
    /// (`None`: no address), both up.
    pub fn veth(
        &self,
        here: &str,
        here_cidr: Option<&str>,
        peer: &str,
        there: &str,
        there_cidr: Option<&str>,
    ) -> Result<(), String> {
        self.check(&[
            "ip", "link", "add", here, "type", "veth", "peer", "name", there, "netns", peer,
        ])?;
        if let Some(cidr) = here_cidr {
            self.addr(cidr, here)?;
        }
        self.check(&["ip", "link", "set", here, "up"])?;
        let in_peer = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", peer];
            all.extend_from_slice(args);
            check(&all)
        };
        if let Some(cidr) = there_cidr {
            in_peer(&["ip", "addr", "add", cidr, "dev", there])?;
        }
        in_peer(&["ip", "link", "set", there, "up"])?;
        Ok(())
    }

    /// Starts `args` inside with `env`, stdout and stderr as given; it is killed when the namespace
    /// is dropped. Returns its index for [`Netns::child`].
    pub fn spawn(
        &mut self,
        args: &[&str],
        env: &[(&str, &str)],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<usize, String> {
        let child = self
            .command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {args:?} in {}: {e}", self.name))?;
        self.children.push(child);
        Ok(self.children.len() - 1)
    }

    /// A child started by [`Netns::spawn`] (`ip netns exec` execs the program in place, so its PID
    /// is the program's).
    pub fn child(&mut self, index: usize) -> Option<&mut Child> {
        self.children.get_mut(index)
    }

    /// The namespace's own files (`ip netns exec` bind-mounts them over `/etc`): `/etc/netns/<name>`.
    pub fn etc_dir(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }

    /// The PIDs of every process inside.
    pub fn pids(&self) -> Vec<i32> {
        check(&["ip", "netns", "pids", &self.name])
            .map(|out| out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.pids() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = output(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(self.etc_dir());
    }
}
