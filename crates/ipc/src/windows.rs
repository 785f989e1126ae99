//! The Windows transport: a named pipe (`\\.\pipe\kubewired`) that refuses remote clients, created
//! with a protected security descriptor ([`crate::pipe_acl`]): SYSTEM and the Administrators, plus
//! read/write for the group the installer chose. Windows enforces it at open, so every connection
//! that reaches `accept` is allowed. Type-checked on Linux (`cargo xtask test` lints the Windows build);
//! never run on the project's CI.

use std::path::Path;
use std::time::Duration;

use interprocess::os::windows::named_pipe::tokio::PipeListener;
use interprocess::os::windows::named_pipe::{PipeListenerOptions, PipeMode, pipe_mode};
use interprocess::os::windows::security_descriptor::SecurityDescriptor;
use tokio::net::windows::named_pipe::ClientOptions;

use crate::pipe_acl::{self, Trustee};
use crate::server::{Connection, PeerIdentity};

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
}

impl PipeServer {
    /// Listens at `name`, open to SYSTEM, the Administrators and `group` (a name, SID or alias).
    pub fn bind(name: &str, group: &str) -> Result<Self, PipeError> {
        let sid = match pipe_acl::trustee(group)? {
            Trustee::Sddl(sid) => sid,
            Trustee::Name(name) => lookup_sid(&name)?,
        };
        let listener = listen(name, &pipe_acl::sddl(&sid))?;
        Ok(Self { listener })
    }

    /// The next connection. The descriptor already kept outsiders out; the identity is not read
    /// on Windows (uid 0 stands for "allowed by the descriptor"), the client's pid is.
    pub async fn accept(&mut self) -> std::io::Result<Connection> {
        let stream = self.listener.accept().await?;
        let pid = stream
            .client_process_id()
            .ok()
            .and_then(|p| i32::try_from(p).ok());
        let (r, w) = stream.split();
        Ok(Connection::new(
            PeerIdentity {
                uid: 0,
                gid: 0,
                pid,
                groups: Vec::new(),
            },
            r,
            w,
        ))
    }
}

/// Connects to a pipe (the client side: the daemon's, or the tray's link), waiting briefly while
/// every instance is busy.
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
