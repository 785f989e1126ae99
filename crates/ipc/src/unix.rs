//! The Unix socket transport: bind with the right owner and mode, identify every peer with
//! `SO_PEERCRED` (+ its supplementary groups from `/proc/<pid>/status`), refuse outsiders.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Gid, Group, Uid, User, chown};
use tokio::net::{UnixListener, UnixStream};

use crate::framing;
use crate::server::{Connection, PeerIdentity, authorize, not_authorized};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another kubewired already listens at {0}")]
    AlreadyRunning(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("accepting a connection: {0}")]
    Accept(#[source] io::Error),
}

/// How to listen.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub path: PathBuf,
    /// The group whose members may connect (besides root).
    pub group: String,
    /// Socket mode; `None`: 0660 with the group, 0600 when the group does not exist.
    pub mode: Option<u32>,
}

/// A bound socket.
#[derive(Debug)]
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
    group: String,
    gid: Option<u32>,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ServerError {
    let path = path.to_owned();
    move |source| ServerError::Io { what, path, source }
}

/// The supplementary groups of a process, from `Groups:` in `/proc/<pid>/status`.
#[must_use]
pub fn parse_proc_groups(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|rest| rest.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default()
}

fn identify(stream: &UnixStream) -> io::Result<PeerIdentity> {
    let cred = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
    let pid = cred.pid();
    let groups = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| parse_proc_groups(&s))
        .unwrap_or_default();
    Ok(PeerIdentity {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: (pid > 0).then_some(pid),
        groups,
    })
}

impl UnixServer {
    /// Creates the parent directory, removes a stale socket (refusing if a daemon answers on it),
    /// binds, and sets owner and mode.
    pub async fn bind(options: &ListenOptions) -> Result<Self, ServerError> {
        let path = options.path.as_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() && UnixStream::connect(path).await.is_ok() {
                return Err(ServerError::AlreadyRunning(path.to_owned()));
            }
            tracing::info!(socket = %path.display(), "removing a stale socket");
            std::fs::remove_file(path).map_err(io_err("removing the stale socket", path))?;
        }
        let listener = UnixListener::bind(path).map_err(io_err("listening at", path))?;
        let gid = Group::from_name(&options.group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        let mode = match (options.mode, gid) {
            (Some(mode), _) => mode,
            (None, Some(_)) => 0o660,
            (None, None) => {
                tracing::warn!(
                    group = %options.group,
                    "the group does not exist: only root may use the daemon (create it: sudo groupadd --system {})",
                    options.group
                );
                0o600
            }
        };
        if let Some(gid) = gid {
            chown(path, Some(Uid::from_raw(0)), Some(Gid::from_raw(gid)))
                .map_err(|e| io_err("setting the owner of", path)(e.into()))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("setting the mode of", path))?;
        tracing::info!(socket = %path.display(), group = %options.group, mode = format!("{mode:o}"), "listening");
        Ok(Self {
            listener,
            path: path.to_owned(),
            group: options.group.clone(),
            gid,
        })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next authorised connection. Outsiders get [`crate::ErrorCode::NotAuthorized`] and are
    /// closed here; they never reach the caller.
    pub async fn accept(&self) -> Result<Connection, ServerError> {
        loop {
            let (stream, _) = self.listener.accept().await.map_err(ServerError::Accept)?;
            let peer = match identify(&stream) {
                Ok(peer) => peer,
                Err(err) => {
                    tracing::warn!(error = %err, "could not identify a client; closing");
                    continue;
                }
            };
            if authorize(&peer, self.gid) {
                tracing::debug!(uid = peer.uid, pid = ?peer.pid, "client connected");
                let (r, w) = stream.into_split();
                return Ok(Connection::new(peer, r, w));
            }
            let user = User::from_uid(Uid::from_raw(peer.uid))
                .ok()
                .flatten()
                .map_or_else(|| peer.uid.to_string(), |u| u.name);
            tracing::warn!(uid = peer.uid, pid = ?peer.pid, user = %user, "refused a client outside the group");
            let group = self.group.clone();
            // Wait for the client's first request (briefly), so the refusal is its answer and the
            // client is not left with a broken pipe while writing.
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = tokio::io::BufReader::new(r);
                let first = framing::read::<_, crate::Request>(&mut r);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), first).await;
                let _ = framing::write(&mut w, &not_authorized(&user, &group)).await;
            });
        }
    }

    /// Removes the socket file.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Connects to the daemon's socket (the client side).
pub(crate) async fn connect(
    socket: &Path,
) -> io::Result<(crate::client::ReadHalf, crate::client::WriteHalf)> {
    let (r, w) = UnixStream::connect(socket).await?.into_split();
    Ok((Box::new(r), Box::new(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_from_proc_status() {
        let status =
            "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t4 27 999 \n";
        assert_eq!(parse_proc_groups(status), vec![4, 27, 999]);
        assert_eq!(parse_proc_groups("Groups:\t\n"), Vec::<u32>::new());
        assert_eq!(parse_proc_groups(""), Vec::<u32>::new());
    }

    #[tokio::test]
    async fn root_connects_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kubewired.sock");
        let options = ListenOptions {
            path: path.clone(),
            group: "kubewire-no-such-group".into(),
            mode: None,
        };
        let server = UnixServer::bind(&options).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "no group: root only");
        // A second daemon must not steal a live socket.
        assert!(matches!(
            UnixServer::bind(&options).await,
            Err(ServerError::AlreadyRunning(_))
        ));
        let client = tokio::spawn({
            let path = path.clone();
            async move { UnixStream::connect(&path).await.unwrap() }
        });
        let conn = server.accept().await.unwrap();
        assert_eq!(conn.peer.uid, nix::unistd::getuid().as_raw());
        drop(client.await.unwrap());
        drop(server);
        // The file is left behind (as after a crash): the next bind replaces it.
        assert!(path.exists());
        let _again = UnixServer::bind(&options).await.unwrap();
    }
}
