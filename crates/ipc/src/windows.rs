//! The Windows transport: a named pipe (`\\.\pipe\kubewired`) that refuses remote clients. Access is
//! limited by the pipe's ACL, set by the service installer on the pipe's security descriptor:
//! `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;<SID of the kubewire group>)` (SYSTEM, Administrators, the
//! group); the pipe server is created with the same SDDL by the Windows service wrapper. Not built on
//! the project's Linux CI.

use std::path::Path;
use std::time::Duration;

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};

use crate::server::{Connection, PeerIdentity};

/// A listening pipe name.
#[derive(Debug)]
pub struct PipeServer {
    name: String,
    next: NamedPipeServer,
}

impl PipeServer {
    pub fn bind(name: &str) -> std::io::Result<Self> {
        let next = ServerOptions::new()
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .create(name)?;
        Ok(Self {
            name: name.to_owned(),
            next,
        })
    }

    /// The next connection. The ACL already kept outsiders out; the identity is not read on
    /// Windows (uid 0 stands for "allowed by the ACL").
    pub async fn accept(&mut self) -> std::io::Result<Connection> {
        self.next.connect().await?;
        let fresh = ServerOptions::new()
            .reject_remote_clients(true)
            .create(&self.name)?;
        let connected = std::mem::replace(&mut self.next, fresh);
        let (r, w) = tokio::io::split(connected);
        Ok(Connection::new(
            PeerIdentity {
                uid: 0,
                gid: 0,
                pid: None,
                groups: Vec::new(),
            },
            r,
            w,
        ))
    }
}

/// Connects to the daemon's pipe (the client side), waiting briefly while every instance is busy.
pub(crate) async fn connect(
    pipe: &Path,
) -> std::io::Result<(crate::client::ReadHalf, crate::client::WriteHalf)> {
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
        "every instance of the daemon's pipe stayed busy",
    ))
}
