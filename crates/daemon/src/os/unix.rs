//! Linux and macOS: a Unix socket (0660 root:<group>, peers checked by their credentials), stop on
//! SIGTERM or SIGINT, private files by mode.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use anyhow::Context as _;
use kubewire_ipc::unix::{ListenOptions, UnixServer};
use kubewire_ipc::{Connection, Limits};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Where the daemon takes connections.
pub struct Listener(UnixServer);

impl Listener {
    pub async fn bind(socket: &Path, group: &str, mode: Option<u32>) -> anyhow::Result<Self> {
        raise_descriptor_limit();
        let server = UnixServer::bind(&ListenOptions {
            path: socket.to_owned(),
            group: group.to_owned(),
            mode,
            limits: Limits::default(),
        })
        .await
        .with_context(|| format!("cannot listen at {}", socket.display()))?;
        Ok(Self(server))
    }

    pub async fn accept(&mut self) -> anyhow::Result<Connection> {
        Ok(self.0.accept().await?)
    }

    pub fn remove(&self) {
        self.0.remove();
    }
}

/// Raises the soft limit on open descriptors to the hard one (systemd's default soft limit is
/// 1,024, its hard limit far higher), so the tunnel, the resolver and root's connections have room
/// beyond what the socket's caps let local users hold.
fn raise_descriptor_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the descriptor limit"),
            Err(e) => tracing::debug!(error = %e, soft, hard, "could not raise the descriptor limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "could not read the descriptor limit"),
    }
}

/// A stop request: SIGTERM (systemd, launchd) or SIGINT.
pub struct Stop {
    term: Signal,
    int: Signal,
}

impl Stop {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    pub async fn requested(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}

/// Whether a daemon answers at `socket`.
#[must_use]
pub fn daemon_answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// A directory only root may enter (0700).
pub fn private_dir_builder() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
}
