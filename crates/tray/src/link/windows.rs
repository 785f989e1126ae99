//! The link on Windows: a named pipe per user (`\\.\pipe\kubewire-tray-<user>`) whose security
//! descriptor lets only its owner (and SYSTEM) open it, local clients only. Type-checked on Linux,
//! never run on the project's CI.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use interprocess::os::windows::named_pipe::tokio::PipeListener;
use interprocess::os::windows::named_pipe::{PipeListenerOptions, PipeMode, pipe_mode};
use interprocess::os::windows::security_descriptor::SecurityDescriptor;
use tokio::io::BufReader;
use tokio::net::windows::named_pipe::ClientOptions;

use super::{ReadHalf, WriteHalf};

/// Owner rights (the user who made the pipe) and SYSTEM; nobody else, not even other admins' tokens.
const OWNER_ONLY: &str = "D:P(A;;GA;;;OW)(A;;GA;;;SY)";

/// This user's default link path.
#[must_use]
pub fn default_path() -> PathBuf {
    let user: String = std::env::var("USERNAME")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    PathBuf::from(format!(r"\\.\pipe\kubewire-tray-{user}"))
}

/// The listening link.
#[derive(Debug)]
pub struct Listener {
    listener: tokio::sync::Mutex<PipeListener<pipe_mode::Bytes, pipe_mode::Bytes>>,
}

impl Listener {
    /// Listens at `path`.
    pub fn bind(path: &Path) -> io::Result<Self> {
        let wide = widestring::U16CString::from_str(OWNER_ONLY)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let descriptor = SecurityDescriptor::deserialize(&wide)?;
        let listener = PipeListenerOptions::new()
            .path(path)
            .mode(PipeMode::Bytes)
            .accept_remote(false)
            .security_descriptor(Some(descriptor))
            .create_tokio_duplex::<pipe_mode::Bytes>()?;
        Ok(Self {
            listener: tokio::sync::Mutex::new(listener),
        })
    }

    /// The next connection (the descriptor already kept everyone else out).
    pub async fn accept(&self) -> io::Result<(ReadHalf, WriteHalf)> {
        let stream = self.listener.lock().await.accept().await?;
        let (r, w) = stream.split();
        Ok((Box::new(BufReader::new(r)), Box::new(w)))
    }
}

/// Connects to the tray at `path`, waiting briefly while every pipe instance is busy.
pub async fn connect(path: &Path) -> io::Result<(ReadHalf, WriteHalf)> {
    /// `ERROR_PIPE_BUSY`.
    const ERROR_PIPE_BUSY: i32 = 231;
    for _ in 0..50 {
        match ClientOptions::new().open(path) {
            Ok(client) => {
                let (r, w) = tokio::io::split(client);
                return Ok((Box::new(BufReader::new(r)), Box::new(w)));
            }
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "the kubewire tray's pipe stays busy",
    ))
}
