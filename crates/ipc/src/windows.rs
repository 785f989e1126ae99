//! The Windows transport: a named pipe (`\\.\pipe\kubewired`) that refuses remote clients, created
//! with a protected security descriptor ([`crate::pipe_acl`]): SYSTEM and the Administrators, plus
//! read/write for the group the installer chose. Windows enforces it at open, so every connection
//! that reaches `accept` is allowed; the client's identity is the user SID of the process that
//! opened the pipe (its pid from the pipe, its token's user through `sysinfo`), mapped to a uid by
//! [`crate::windows_identity`] so that a session belongs to its owner as on Unix. The same per-user
//! limits as on Unix apply. A client gives the daemon the private key only after checking that the
//! process serving the pipe runs as SYSTEM. Type-checked on Linux (`cargo xtask test` lints the
//! Windows build); never run on the project's CI.

use std::path::Path;
use std::time::Duration;

use interprocess::os::windows::named_pipe::tokio::{DuplexPipeStream, PipeListener};
use interprocess::os::windows::named_pipe::{PipeListenerOptions, PipeMode, pipe_mode};
use interprocess::os::windows::security_descriptor::SecurityDescriptor;
use tokio::net::windows::named_pipe::ClientOptions;

use crate::limits::{AcceptBackoff, Limits, Tracker};
use crate::pipe_acl::{self, Trustee};
use crate::server::{Connection, PeerIdentity};
use crate::windows_identity::{check_server, pid_still_the_client, uid_for_sid};

/// The user SID of process `pid` and when it started (seconds since the epoch), if it can be read.
fn process_user(pid: u32) -> Option<(String, u64)> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let pid = Pid::from_u32(pid);
    let mut system = System::new().ok()?;
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_user(UpdateKind::Always),
    );
    let process = system.process(pid)?;
    let sid = process.user_id()?.to_string();
    Some((sid, process.start_time()))
}

/// Why the pipe cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error(transparent)]
    Group(#[from] pipe_acl::AclError),
    #[error(
        "cannot find the SID of the group {group:?} ({detail}); create the group or pass its SID with --group"
    )]
    Lookup { group: String, detail: String },
    #[error("the pipe's security descriptor {sddl:?} is not valid: {source}")]
    Descriptor {
        sddl: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen at {name}: {source}")]
    Listen {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// The SID of a local group (SDDL has no names): asks PowerShell, the one safe way from Rust.
fn lookup_sid(name: &str) -> Result<String, PipeError> {
    let failed = |detail: String| PipeError::Lookup {
        group: name.to_owned(),
        detail,
    };
    let out = std::process::Command::new("powershell.exe")
        .args([
            "-NoProfile",
            "-NonInteractive",
            "-Command",
            &pipe_acl::lookup_command(name),
        ])
        .output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    pipe_acl::parse_lookup(&stdout)
        .ok_or_else(|| failed(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
}

/// A pipe at `name` for local clients only, with the security descriptor `sddl` (Windows enforces
/// it at open). Also the tray's link (`kubewire-tray`), with an owner-only descriptor.
pub fn listen(name: &str, sddl: &str) -> Result<PipeListener<pipe_mode::Bytes, pipe_mode::Bytes>, PipeError> {
    let descriptor = widestring::U16CString::from_str(sddl)
        .map_err(|e| PipeError::Descriptor {
            sddl: sddl.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        })
        .and_then(|wide| {
            SecurityDescriptor::deserialize(&wide).map_err(|source| PipeError::Descriptor {
                sddl: sddl.to_owned(),
                source,
            })
        })?;
    PipeListenerOptions::new()
        .path(name)
        .mode(PipeMode::Bytes)
        .accept_remote(false)
        .security_descriptor(Some(descriptor))
        .create_tokio_duplex::<pipe_mode::Bytes>()
        .map_err(|source| PipeError::Listen {
            name: name.to_owned(),
            source,
        })
}

/// The listening pipe.
#[derive(Debug)]
pub struct PipeServer {
    listener: PipeListener<pipe_mode::Bytes, pipe_mode::Bytes>,
    tracker: Tracker,
    backoff: AcceptBackoff,
}

impl PipeServer {
    /// Listens at `name`, open to SYSTEM, the Administrators and `group` (a name, SID or alias).
    pub fn bind(name: &str, group: &str) -> Result<Self, PipeError> {
        let sid = match pipe_acl::trustee(group)? {
            Trustee::Sddl(sid) => sid,
            Trustee::Name(name) => lookup_sid(&name)?,
        };
        let listener = listen(name, &pipe_acl::sddl(&sid))?;
        Ok(Self {
            listener,
            tracker: Tracker::new(Limits::default()),
            backoff: AcceptBackoff::default(),
        })
    }

    /// The next connection of an identified client within its limits. The descriptor already kept
    /// outsiders out; a client whose user cannot be read, or whose pid now belongs to a process
    /// started after the accept (it exited and the pid was reused), is closed here, as is one over
    /// its user's connection limit.
    pub async fn accept(&mut self) -> std::io::Result<Connection> {
        loop {
            let stream = match self.listener.accept().await {
                Ok(stream) => {
                    self.backoff.succeeded();
                    stream
                }
                Err(err) => {
                    // Never a spin: wait a growing while, and log once per 10 s.
                    let after = self.backoff.failed(std::time::Instant::now());
                    if let Some(unlogged) = after.log {
                        tracing::warn!(error = %err, not_logged_since_last = unlogged, "accept failed");
                    }
                    tokio::time::sleep(after.wait).await;
                    continue;
                }
            };
            let accepted = crate::time::now_secs();
            let Ok(pid) = stream.client_process_id() else {
                tracing::warn!("a pipe client without a process id; closing");
                continue;
            };
            let user = tokio::task::spawn_blocking(move || process_user(pid))
                .await
                .ok()
                .flatten();
            let sid = match user {
                Some((sid, started)) if pid_still_the_client(started, accepted) => sid,
                Some(_) => {
                    tracing::warn!(pid, "the pipe client's pid belongs to a newer process; closing");
                    continue;
                }
                None => {
                    tracing::warn!(pid, "could not read the pipe client's user; closing");
                    continue;
                }
            };
            let uid = uid_for_sid(&sid);
            let Ok(slot) = self.tracker.acquire(uid) else {
                tracing::debug!(pid, %sid, "a pipe client over its connection limit; closing");
                continue;
            };
            tracing::debug!(pid, %sid, uid, "client connected");
            let (r, w) = stream.split();
            let peer = PeerIdentity {
                uid,
                gid: 0,
                pid: i32::try_from(pid).ok(),
                groups: Vec::new(),
            };
            return Ok(Connection::limited(
                peer,
                r,
                w,
                self.tracker.limits(),
                Some(slot),
                None,
            ));
        }
    }
}

/// Connects to the daemon's pipe and checks that the process serving it runs as SYSTEM (the
/// service) before anything, the private key included, is written to it.
pub async fn connect_daemon(
    pipe: &Path,
) -> std::io::Result<(crate::client::ReadHalf, crate::client::WriteHalf)> {
    /// `ERROR_PIPE_BUSY`: all instances are taken; the server makes a new one right after accepting.
    const ERROR_PIPE_BUSY: i32 = 231;
    for _ in 0..50 {
        match DuplexPipeStream::<pipe_mode::Bytes>::connect_by_path(pipe).await {
            Ok(stream) => {
                let server = stream.server_process_id().ok();
                let sid = match server {
                    Some(pid) => tokio::task::spawn_blocking(move || process_user(pid))
                        .await
                        .ok()
                        .flatten()
                        .map(|(sid, _)| sid),
                    None => None,
                };
                check_server(sid.as_deref())
                    .map_err(|message| std::io::Error::new(std::io::ErrorKind::PermissionDenied, message))?;
                let (r, w) = stream.split();
                return Ok((Box::new(r), Box::new(w)));
            }
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("every instance of the pipe {} stayed busy", pipe.display()),
    ))
}

/// Connects to a pipe (the tray's link), waiting briefly while every instance is busy.
pub async fn connect(pipe: &Path) -> std::io::Result<(crate::client::ReadHalf, crate::client::WriteHalf)> {
    /// `ERROR_PIPE_BUSY`: all instances are taken; the server makes a new one right after accepting.
    const ERROR_PIPE_BUSY: i32 = 231;
    for _ in 0..50 {
        match ClientOptions::new().open(pipe) {
            Ok(client) => {
                let (r, w) = tokio::io::split(client);
                return Ok((Box::new(r), Box::new(w)));
            }
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("every instance of the pipe {} stayed busy", pipe.display()),
    ))
}
