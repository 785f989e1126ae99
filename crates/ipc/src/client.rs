//! The user side's connection to `kubewired`.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};

use crate::framing::{self, FrameError};
use crate::messages::{ErrorCode, Event, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket.
    #[error("{}", self.problem())]
    NotRunning { socket: String },
    /// The daemon does not let this user in.
    #[error("{}", self.problem())]
    PermissionDenied { socket: String },
    #[error("talking to the kubewire daemon: {0}")]
    Frame(#[from] FrameError),
    #[error("the kubewire daemon closed the connection")]
    Closed,
    #[error("{message}")]
    Daemon { code: ErrorCode, message: String },
    #[error("the kubewire daemon sent an unexpected answer")]
    Unexpected,
    /// The daemon took the request and gave no answer in time.
    #[error("{}", self.problem())]
    NoAnswer { secs: u64 },
}

/// The read half of a connection (a Unix socket's, a named pipe's).
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// One connection to the daemon.
pub struct Client {
    reader: BufReader<ReadHalf>,
    writer: WriteHalf,
    socket: std::path::PathBuf,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects, turning the usual failures into errors that say what to do.
    pub async fn connect(socket: &Path) -> Result<Self, ClientError> {
        let (reader, writer) = Self::open(socket).await?;
        Ok(Self {
            reader,
            writer,
            socket: socket.to_owned(),
        })
    }

    async fn open(socket: &Path) -> Result<(BufReader<ReadHalf>, WriteHalf), ClientError> {
        let shown = socket.display().to_string();
        let (r, w) = crate::transport::connect_daemon(socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
                    socket: shown.clone(),
                },
                _ => ClientError::NotRunning {
                    socket: shown.clone(),
                },
            })?;
        Ok((BufReader::new(r), w))
    }

    /// Sends a request and reads its answer; a daemon error becomes [`ClientError::Daemon`]
    /// ([`ErrorCode::NotAuthorized`] as [`ClientError::PermissionDenied`]).
    ///
    /// The daemon closes a connection that stayed silent too long (without reading from it): when
    /// the connection turns out closed before any answer, the request is sent once more on a new
    /// connection (every request is safe to repeat; an unread one was never carried out).
    pub async fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let first = self.exchange(request).await;
        let closed = match &first {
            Err(ClientError::Closed) => true,
            Err(ClientError::Frame(FrameError::Io(e))) => matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        };
        if !closed {
            return first;
        }
        let (reader, writer) = Self::open(&self.socket).await?;
        self.reader = reader;
        self.writer = writer;
        self.exchange(request).await
    }

    async fn exchange(&mut self, request: &Request) -> Result<Response, ClientError> {
        framing::write(&mut self.writer, request).await?;
        match framing::read::<_, Response>(&mut self.reader).await? {
            None => Err(ClientError::Closed),
            Some(Response::Error {
                code: ErrorCode::NotAuthorized,
                ..
            }) => Err(ClientError::PermissionDenied {
                socket: "the daemon's socket".into(),
            }),
            Some(Response::Error { code, message }) => Err(ClientError::Daemon { code, message }),
            Some(r) => Ok(r),
        }
    }

    /// Subscribes; then call [`Client::next_event`] in a loop.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        match self.request(&Request::Subscribe).await? {
            Response::Subscribed => Ok(()),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// The next event on a subscribed connection; `None` when the daemon closed it.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            match framing::read::<_, Response>(&mut self.reader).await? {
                None => return Ok(None),
                Some(Response::Event { event }) => return Ok(Some(event)),
                Some(Response::Error { code, message }) => return Err(ClientError::Daemon { code, message }),
                Some(_) => continue,
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_request_on_a_connection_the_daemon_closed_as_idle_is_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            // The first connection is closed without a word (as an idle one is).
            let (first, _) = listener.accept().await.unwrap();
            drop(first);
            let (second, _) = listener.accept().await.unwrap();
            let (r, mut w) = second.into_split();
            let mut r = BufReader::new(r);
            let asked: Option<Request> = framing::read(&mut r).await.unwrap();
            assert_eq!(asked, Some(Request::Status));
            framing::write(&mut w, &Response::Disconnected).await.unwrap();
        });
        let mut client = Client::connect(&path).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            client.request(&Request::Status).await.unwrap(),
            Response::Disconnected
        );
        server.await.unwrap();
    }
}
