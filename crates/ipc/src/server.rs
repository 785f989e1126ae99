//! The daemon's side of the socket, independent of the transport: who may connect
//! ([`authorize`], a pure function), and one accepted [`Connection`] (the peer's identity, its
//! requests as a cancel-safe stream, a writer for responses and events).
//!
//! The transports ([`crate::unix`], `windows`) accept, identify the peer and refuse it before a
//! single request is read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;

use crate::framing::{self, BigFrames, FrameError};
use crate::limits::{Limits, Slot};
use crate::messages::{ErrorCode, Request, Response};

/// Who is on the other end of a connection, as the OS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Process id, when the OS tells it.
    pub pid: Option<i32>,
    /// Supplementary groups of that process.
    pub groups: Vec<u32>,
}

/// Whether `peer` may talk to the daemon: root, or a member (primary or supplementary) of the
/// daemon's group. `group` is `None` when the group does not exist on this machine: then only root.
#[must_use]
pub fn authorize(peer: &PeerIdentity, group: Option<u32>) -> bool {
    peer.uid == 0 || group.is_some_and(|g| peer.gid == g || peer.groups.contains(&g))
}

/// The refusal a caller outside the group gets.
#[must_use]
pub fn not_authorized(user: &str, group: &str) -> Response {
    Response::Error {
        code: ErrorCode::NotAuthorized,
        message: format!(
            "you may not use the kubewire daemon: it accepts root and members of the `{group}` group; \
             add yourself to the {group} group: sudo usermod -aG {group} {user} (then log in again)"
        ),
    }
}

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// One accepted, authorised connection.
pub struct Connection {
    pub peer: PeerIdentity,
    requests: mpsc::Receiver<Result<Request, FrameError>>,
    writer: Writer,
    /// Set once the connection is a controller or a subscriber: then it may stay silent.
    long_lived: Arc<AtomicBool>,
    /// Its place in the per-user count, given back when it and its reader are gone.
    _slot: Option<Arc<Slot>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Wraps a stream without limits (tests, trusted links): see [`Connection::limited`].
    pub fn new<R, W>(peer: PeerIdentity, reader: R, writer: W) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let limits = Limits {
            idle: std::time::Duration::from_secs(u64::from(u32::MAX)),
            frame: std::time::Duration::from_secs(u64::from(u32::MAX)),
            ..Limits::default()
        };
        Self::limited(peer, reader, writer, limits, None, None)
    }

    /// Wraps a stream: a task reads frames into a channel, so [`Connection::recv`] is cancel-safe
    /// (usable in `select!` next to an event stream). The task ends the connection when the first
    /// request does not come within `limits.idle`, when a later one does not (unless the connection
    /// was marked [`Connection::keep_open`]), or when a started frame takes longer than
    /// `limits.frame`; `slot` is held until the connection is dropped. Frames larger than
    /// [`framing::SMALL_FRAME`] wait for a permit of `big` (none: no wait).
    pub fn limited<R, W>(
        peer: PeerIdentity,
        reader: R,
        writer: W,
        limits: Limits,
        slot: Option<Slot>,
        big: Option<Arc<BigFrames>>,
    ) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(4);
        let long_lived = Arc::new(AtomicBool::new(false));
        let quiet_ok = Arc::clone(&long_lived);
        let slot = slot.map(Arc::new);
        let task_slot = slot.clone();
        tokio::spawn(async move {
            // Holds the place until both halves of the connection are gone.
            let _slot = task_slot;
            let mut reader = BufReader::new(reader);
            loop {
                let idle = (!quiet_ok.load(Ordering::Relaxed)).then_some(limits.idle);
                let read =
                    framing::read_limited::<_, Request>(&mut reader, idle, limits.frame, big.as_deref());
                let result = tokio::select! {
                    result = read => result,
                    // The connection was dropped: stop reading (and let the descriptor go).
                    () = tx.closed() => break,
                };
                match result {
                    Ok(Some(request)) => {
                        if tx.send(Ok(request)).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    // It became a controller or a subscriber while this read waited: wait on.
                    Err(FrameError::Idle(_)) if quiet_ok.load(Ordering::Relaxed) => {}
                    Err(err) => {
                        let _ = tx.send(Err(err)).await;
                        break;
                    }
                }
            }
        });
        Self {
            peer,
            requests: rx,
            writer: Box::new(writer),
            long_lived,
            _slot: slot,
        }
    }

    /// This connection is a controller (it applied a Plan) or a subscriber: it may stay silent
    /// between requests for as long as it likes (it still counts against its user's limit).
    pub fn keep_open(&self) {
        self.long_lived.store(true, Ordering::Relaxed);
    }

    /// The next request; `None` when the client closed the connection. A frame error is returned
    /// once, then the stream ends. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Request, FrameError>> {
        self.requests.recv().await
    }

    /// Sends one response or event.
    pub async fn send(&mut self, response: &Response) -> Result<(), FrameError> {
        framing::write(&mut self.writer, response).await
    }

    /// The answer to a frame error: a version mismatch or a bad request.
    #[must_use]
    pub fn frame_error_response(err: &FrameError) -> Response {
        let code = match err {
            FrameError::Version { .. } => ErrorCode::VersionMismatch,
            _ => ErrorCode::BadRequest,
        };
        Response::Error {
            code,
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> PeerIdentity {
        PeerIdentity {
            uid,
            gid,
            pid: Some(1),
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn root_is_always_allowed() {
        assert!(authorize(&peer(0, 0, &[]), None));
        assert!(authorize(&peer(0, 0, &[]), Some(999)));
    }

    #[test]
    fn group_members_are_allowed_by_primary_or_supplementary_group() {
        assert!(authorize(&peer(1000, 999, &[]), Some(999)));
        assert!(authorize(&peer(1000, 1000, &[27, 999]), Some(999)));
    }

    #[test]
    fn others_are_refused_and_nobody_but_root_without_the_group() {
        assert!(!authorize(&peer(1000, 1000, &[27]), Some(999)));
        assert!(!authorize(&peer(1000, 999, &[999]), None));
        assert!(!authorize(&peer(65534, 65534, &[]), Some(999)));
    }

    #[test]
    fn the_refusal_says_how_to_fix_it() {
        match not_authorized("alice", "kubewire") {
            Response::Error { code, message } => {
                assert_eq!(code, ErrorCode::NotAuthorized);
                assert!(message.contains("sudo usermod -aG kubewire alice"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn requests_arrive_and_frame_errors_end_the_stream() {
        let (client, server) = tokio::io::duplex(4096);
        let (sr, sw) = tokio::io::split(server);
        let mut conn = Connection::new(peer(0, 0, &[]), sr, sw);
        let (cr, mut cw) = tokio::io::split(client);
        framing::write(&mut cw, &Request::Status).await.unwrap();
        assert!(matches!(conn.recv().await, Some(Ok(Request::Status))));
        tokio::io::AsyncWriteExt::write_all(&mut cw, b"{\"v\":7,\"request\":\"status\"}\n")
            .await
            .unwrap();
        let err = conn.recv().await.unwrap().unwrap_err();
        assert!(matches!(
            Connection::frame_error_response(&err),
            Response::Error {
                code: ErrorCode::VersionMismatch,
                ..
            }
        ));
        assert!(conn.recv().await.is_none());
        drop(cr);
    }

    fn short_limits() -> Limits {
        Limits {
            idle: std::time::Duration::from_secs(1),
            frame: std::time::Duration::from_secs(1),
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_ended_but_a_controller_may_stay_silent() {
        // Nobody asks anything: ended after the idle time.
        let (_client, server) = tokio::io::duplex(4096);
        let (sr, sw) = tokio::io::split(server);
        let mut conn = Connection::limited(peer(1000, 1000, &[]), sr, sw, short_limits(), None, None);
        assert!(matches!(conn.recv().await, Some(Err(FrameError::Idle(1)))));
        assert!(conn.recv().await.is_none());

        // A controller: after its first request it is kept open however long it stays silent.
        let (client, server) = tokio::io::duplex(4096);
        let (sr, sw) = tokio::io::split(server);
        let mut conn = Connection::limited(peer(1000, 1000, &[]), sr, sw, short_limits(), None, None);
        let (_cr, mut cw) = tokio::io::split(client);
        framing::write(&mut cw, &Request::Status).await.unwrap();
        assert!(matches!(conn.recv().await, Some(Ok(Request::Status))));
        conn.keep_open();
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        framing::write(&mut cw, &Request::Disconnect { name: None })
            .await
            .unwrap();
        assert!(matches!(conn.recv().await, Some(Ok(Request::Disconnect { .. }))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_slot_is_given_back_when_the_connection_ends() {
        let tracker = crate::limits::Tracker::new(short_limits());
        let (_client, server) = tokio::io::duplex(4096);
        let (sr, sw) = tokio::io::split(server);
        let slot = tracker.acquire(1000).unwrap();
        let conn = Connection::limited(peer(1000, 1000, &[]), sr, sw, short_limits(), Some(slot), None);
        assert_eq!(tracker.held_by(1000), 1);
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(tracker.held_by(1000), 0);
    }
}
