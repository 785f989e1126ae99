//! The long-running processes the lab starts (wireguard-go, pod servers, unbound), recorded by PID in
//! `<lab dir>/pids` so that `lab down` ends exactly these, also after a crash of the controller.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("could not start {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("could not record PID in {path}: {source}")]
    Record { path: PathBuf, source: std::io::Error },
}

/// A process the lab started, with the namespace it runs in.
#[derive(Debug)]
pub struct LabProcess {
    pub name: String,
    pub netns: String,
    pub child: Child,
}

impl LabProcess {
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    /// SIGTERM, then SIGKILL after `grace`, and reap.
    pub fn stop(mut self, grace: Duration) {
        let pid = Pid::from_raw(self.pid());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args…` in namespace `netns` (directly under `ip netns exec`, so the PID is the
/// program's own), with output appended to `<dir>/logs/<name>.log`, and records it.
pub fn spawn_in(
    dir: &Path,
    name: &str,
    netns: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<LabProcess, ProcError> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| ProcError::Spawn {
        what: name.into(),
        source,
    })?;
    let log = File::options()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")))
        .map_err(|source| ProcError::Spawn {
            what: name.into(),
            source,
        })?;
    let log2 = log.try_clone().map_err(|source| ProcError::Spawn {
        what: name.into(),
        source,
    })?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|source| ProcError::Spawn {
        what: format!("{name} ({program})"),
        source,
    })?;
    let proc = LabProcess {
        name: name.into(),
        netns: netns.into(),
        child,
    };
    record(dir, proc.pid(), program)?;
    tracing::debug!(name, netns, pid = proc.pid(), "started");
    Ok(proc)
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.join("pids")
}

/// Appends `pid program` to the PID record.
pub fn record(dir: &Path, pid: i32, program: &str) -> Result<(), ProcError> {
    let path = pid_file(dir);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| ProcError::Record {
            path: path.clone(),
            source,
        })?;
    writeln!(f, "{pid} {program}").map_err(|source| ProcError::Record { path, source })
}

/// The recorded processes that still run the program they were recorded with.
pub fn recorded_alive(dir: &Path) -> Vec<(i32, String)> {
    let Ok(text) = std::fs::read_to_string(pid_file(dir)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (pid, program) = line.split_once(' ')?;
            let pid: i32 = pid.parse().ok()?;
            runs(pid, program).then(|| (pid, program.to_string()))
        })
        .collect()
}

/// Whether process `pid` is alive and its command line mentions `program`.
pub fn runs(pid: i32, program: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let base = Path::new(program)
        .file_name()
        .and_then(|b| b.to_str())
        .unwrap_or(program);
    let cmdline = String::from_utf8_lossy(&cmdline);
    // A zombie has an empty command line: treat as gone.
    !cmdline.is_empty() && cmdline.split('\0').any(|arg| arg.ends_with(base))
}

/// Ends every recorded process still alive (SIGTERM, then SIGKILL), then forgets the record.
pub fn kill_recorded(dir: &Path) {
    let alive = recorded_alive(dir);
    for (pid, _) in &alive {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && alive.iter().any(|(pid, p)| runs(*pid, p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pid, p) in &alive {
        if runs(*pid, p) {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(pid_file(dir));
}
