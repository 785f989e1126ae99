//! The link on Windows: a named pipe per user (`\\.\pipe\kubewire-tray-<user>`) whose security
//! descriptor lets only its owner (and SYSTEM) open it, local clients only (the daemon's pipe
//! transport, [`kubewire_ipc::windows`], with another descriptor). Type-checked on Linux, never run
//! on the project's CI.

use std::io;
use std::path::{Path, PathBuf};

use interprocess::os::windows::named_pipe::pipe_mode;
use interprocess::os::windows::named_pipe::tokio::PipeListener;
use tokio::io::BufReader;

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
        let listener =
            kubewire_ipc::windows::listen(&path.to_string_lossy(), OWNER_ONLY).map_err(io::Error::other)?;
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
    let (r, w) = kubewire_ipc::windows::connect(path).await?;
    Ok((Box::new(BufReader::new(r)), w))
}
