//! The one launcher of `kubewired` for tests: its socket, state dir, arguments and environment,
//! inside a namespace (or behind any command prefix), stopped by PID.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd::wait_for;

/// How long a daemon may take to accept on its socket, or to exit after a signal.
const PATIENCE: Duration = Duration::from_secs(10);

/// What to start: `exe` (the `kubewired` binary) behind `enter` (a command prefix that enters the
/// laptop, `ip netns exec <ns>` or e.g. also a private mount namespace; empty: run it directly), with
/// `--socket socket --state-dir state_dir` and then `args`, the environment `RUST_LOG=info` plus
/// `env`, stdout and stderr to `log`.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    pub exe: PathBuf,
    pub enter: Vec<String>,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl DaemonSpec {
    /// `exe` inside namespace `netns` with `socket` and `state_dir`, logging to `log`.
    pub fn in_netns(exe: &Path, netns: &str, socket: &Path, state_dir: &Path, log: &Path) -> Self {
        Self {
            exe: exe.to_owned(),
            enter: ["ip", "netns", "exec", netns].map(String::from).to_vec(),
            socket: socket.to_owned(),
            state_dir: state_dir.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            log: log.to_owned(),
        }
    }
}

/// A running `kubewired`; killed (SIGKILL by PID) on drop unless it was stopped before.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon (removing a stale socket first) and waits until its socket accepts.
    pub fn start(spec: &DaemonSpec) -> Result<Self, String> {
        let _ = std::fs::remove_file(&spec.socket);
        let log = std::fs::File::create(&spec.log)
            .map_err(|e| format!("cannot create {}: {e}", spec.log.display()))?;
        let log_copy = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", spec.log.display()))?;
        let mut cmd = match spec.enter.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(&spec.exe);
                cmd
            }
            None => Command::new(&spec.exe),
        };
        cmd.arg("--socket")
            .arg(&spec.socket)
            .arg("--state-dir")
            .arg(&spec.state_dir)
            .args(&spec.args)
            .env("RUST_LOG", "info")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_copy)
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.exe.display()))?;
        let daemon = Self {
            pid: child.id(),
            child: Some(child),
            log: spec.log.clone(),
        };
        let socket = spec.socket.clone();
        if !wait_for(PATIENCE, || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        }) {
            return Err(format!(
                "kubewired did not listen on {} within {PATIENCE:?}; its log:\n{}",
                socket.display(),
                daemon.log()
            ));
        }
        Ok(daemon)
    }

    /// Its PID (`ip netns exec` execs the daemon in place).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Its log so far (empty if it cannot be read).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` and waits for the exit; on a timeout it is killed and the error carries its log.
    pub fn signal(mut self, signal: Signal) -> Result<ExitStatus, String> {
        let _ = kill(self.nix_pid(), signal);
        match self.wait_exit(PATIENCE) {
            Some(status) => Ok(status),
            None => Err(format!(
                "kubewired did not exit after {signal}; its log:\n{}",
                self.log()
            )),
        }
    }

    /// SIGTERM, and SIGKILL if it has not exited after 10 s; its exit status.
    pub fn stop(mut self) -> Option<ExitStatus> {
        let _ = kill(self.nix_pid(), Signal::SIGTERM);
        if let Some(status) = self.wait_exit(PATIENCE) {
            return Some(status);
        }
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGKILL (a crash); its PID.
    pub fn crash(mut self) -> u32 {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.pid
    }

    /// Waits for it to exit by itself; `None` if it still runs after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut status = None;
        let child = self.child.as_mut()?;
        wait_for(within, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_some() {
            self.child = None;
        }
        status
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
