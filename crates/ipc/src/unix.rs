//! The Unix socket transport: bind with the right owner and mode, identify every peer from the
//! socket itself ([`crate::peer`]), refuse outsiders, and keep the limits ([`crate::limits`]): a
//! per-user and a non-root connection cap, idle and frame timeouts, back-off with rate-limited logs
//! when `accept` fails, and one spare descriptor so root is served even when the process has no
//! descriptor left.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User, chown};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, Semaphore};

use crate::framing::{self, BigFrames};
use crate::limits::{AcceptBackoff, Limits, Tracker, out_of_descriptors};
use crate::messages::{ErrorCode, Response};
use crate::server::{Connection, authorize, not_authorized};

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
    /// Connection caps and timeouts.
    pub limits: Limits,
}

/// A bound socket.
#[derive(Debug)]
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
    group: String,
    gid: Option<u32>,
    tracker: Tracker,
    backoff: Mutex<AcceptBackoff>,
    /// An open descriptor kept in reserve: when `accept` fails for want of descriptors, it is
    /// closed so one connection can be accepted (and served if it is root's), then reopened.
    spare: Mutex<Option<std::fs::File>>,
    /// Refused clients waiting (briefly) for their first request, so the refusal is their answer.
    refusals: Arc<Semaphore>,
    /// Permits for large frames of non-root clients (root's never wait).
    big_frames: Arc<BigFrames>,
}

/// Large frames (a big Plan) buffered at once for non-root clients: memory stays under
/// `BIG_FRAMES * MAX_FRAME` however many connections send them.
const BIG_FRAMES: usize = 2;

/// Refused clients answered at once at most; beyond that they are closed without a word.
const POLITE_REFUSALS: usize = 16;
/// How long a refused client may take to send its first request.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

fn spare_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ServerError {
    let path = path.to_owned();
    move |source| ServerError::Io { what, path, source }
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
            tracker: Tracker::new(options.limits),
            backoff: Mutex::new(AcceptBackoff::default()),
            spare: Mutex::new(spare_descriptor()),
            refusals: Arc::new(Semaphore::new(POLITE_REFUSALS)),
            big_frames: Arc::new(BigFrames::new(BIG_FRAMES)),
        })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next authorised connection within the limits. Outsiders get
    /// [`crate::ErrorCode::NotAuthorized`], users over their cap an error that says so; both are
    /// closed here and never reach the caller. Failed accepts are retried after a growing wait
    /// (logged at most once per 10 s); this never returns an error.
    pub async fn accept(&self) -> Result<Connection, ServerError> {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => {
                    self.backoff.lock().await.succeeded();
                    stream
                }
                Err(err) => {
                    if out_of_descriptors(&err)
                        && let Some(conn) = self.accept_with_the_spare().await
                    {
                        return Ok(conn);
                    }
                    let after = self.backoff.lock().await.failed(Instant::now());
                    if let Some(unlogged) = after.log {
                        tracing::warn!(
                            error = %err,
                            not_logged_since_last = unlogged,
                            retry_in_ms = after.wait.as_millis() as u64,
                            "accept failed"
                        );
                    }
                    tokio::time::sleep(after.wait).await;
                    continue;
                }
            };
            if let Some(conn) = self.admit(stream) {
                return Ok(conn);
            }
        }
    }

    /// Out of descriptors: gives up the spare to accept the waiting connections one by one, serves
    /// the first that is root's and closes the others at once (everyone else is over some limit
    /// right now), then takes the spare back.
    async fn accept_with_the_spare(&self) -> Option<Connection> {
        let mut spare = self.spare.lock().await;
        drop(spare.take());
        let mut conn = None;
        for _ in 0..1024 {
            let Ok(Ok((stream, _))) =
                tokio::time::timeout(Duration::from_millis(5), self.listener.accept()).await
            else {
                break;
            };
            if crate::peer::identify(&stream, self.gid).is_ok_and(|p| p.uid == 0) {
                conn = self.admit(stream);
                break;
            }
        }
        *spare = spare_descriptor();
        conn
    }

    /// Identifies, authorises and counts one accepted stream.
    fn admit(&self, stream: UnixStream) -> Option<Connection> {
        let peer = match crate::peer::identify(&stream, self.gid) {
            Ok(peer) => peer,
            Err(err) => {
                tracing::warn!(error = %err, "could not identify a client; closing");
                return None;
            }
        };
        if !authorize(&peer, self.gid) {
            let user = User::from_uid(Uid::from_raw(peer.uid))
                .ok()
                .flatten()
                .map_or_else(|| peer.uid.to_string(), |u| u.name);
            tracing::warn!(uid = peer.uid, pid = ?peer.pid, user = %user, "refused a client outside the group");
            self.refuse(stream, not_authorized(&user, &self.group));
            return None;
        }
        match self.tracker.acquire(peer.uid) {
            Ok(slot) => {
                tracing::debug!(uid = peer.uid, pid = ?peer.pid, "client connected");
                let (r, w) = stream.into_split();
                let big = (peer.uid != 0).then(|| Arc::clone(&self.big_frames));
                Some(Connection::limited(
                    peer,
                    r,
                    w,
                    self.tracker.limits(),
                    Some(slot),
                    big,
                ))
            }
            Err(refused) => {
                tracing::debug!(uid = peer.uid, ?refused, "refused a connection over the limit");
                self.refuse(
                    stream,
                    Response::Error {
                        code: ErrorCode::Failed,
                        message: refused.message(),
                    },
                );
                None
            }
        }
    }

    /// Answers a refused client's first request with `answer` (waiting briefly for it, so the
    /// client is not left with a broken pipe while writing), or closes it at once when enough
    /// refusals are already waiting.
    fn refuse(&self, stream: UnixStream, answer: Response) {
        let Ok(permit) = Arc::clone(&self.refusals).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let (r, mut w) = stream.into_split();
            let mut r = tokio::io::BufReader::new(r);
            // No permit for a large frame: a refused client's frame is never buffered past 64 KiB.
            let no_big_frames = BigFrames::new(0);
            let first = framing::read_limited::<_, crate::Request>(
                &mut r,
                Some(REFUSAL_WAIT),
                REFUSAL_WAIT,
                Some(&no_big_frames),
            );
            let _ = tokio::time::timeout(REFUSAL_WAIT, first).await;
            let _ = tokio::time::timeout(REFUSAL_WAIT, framing::write(&mut w, &answer)).await;
        });
    }

    /// Removes the socket file.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Connects to the daemon's socket (the client side). The socket's directory and file are root's
/// (`/run/kubewire`, 0660 root:kubewire), so nobody else can stand in for the daemon.
pub(crate) async fn connect_daemon(
    socket: &Path,
) -> io::Result<(crate::client::ReadHalf, crate::client::WriteHalf)> {
    let (r, w) = UnixStream::connect(socket).await?.into_split();
    Ok((Box::new(r), Box::new(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn root_connects_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kubewired.sock");
        let options = ListenOptions {
            path: path.clone(),
            group: "kubewire-no-such-group".into(),
            mode: None,
            limits: Limits::default(),
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
