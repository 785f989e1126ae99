//! Where Plans go: the daemon in production ([`DaemonSink`]), a channel in tests ([`ChannelSink`]).

use std::path::PathBuf;

use futures::future::BoxFuture;
use kubewire_core::{Plan, PrivateKey};
use kubewire_ipc::{Client, ClientError, Request, Response, SecretKey, SessionInfo};
use tokio::sync::mpsc;

/// How long the daemon may take to answer one request.
pub const DAEMON_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sending a Plan failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The daemon said no or is gone.
    #[error(transparent)]
    Daemon(#[from] ClientError),
    /// The receiving side is gone.
    #[error("the plan receiver is gone")]
    Closed,
}

/// One Plan to apply, with what the daemon needs besides it.
#[derive(Debug, Clone)]
pub struct PlanUpdate {
    /// The Plan.
    pub plan: Plan,
    /// The laptop's private key (redacted in `Debug`).
    pub private_key: PrivateKey,
    /// The preshared key the laptop shares with its Peer, if any (redacted in `Debug`).
    pub preshared_key: Option<kubewire_core::PresharedKey>,
    /// Who asks.
    pub session: SessionInfo,
}

/// Receives every new Plan.
pub trait PlanSink: Send + 'static {
    /// Applies a Plan.
    fn apply<'a>(&'a mut self, update: &'a PlanUpdate) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Takes the tunnel down.
    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
}

/// The daemon: one connection kept open while the controller runs (the daemon treats it as the
/// live controller); a request that finds it closed (the daemon restarted) is sent again on a new one.
#[derive(Debug)]
pub struct DaemonSink {
    socket: PathBuf,
    client: Option<Client>,
    timeout: std::time::Duration,
    /// The connection the Plans went to (from the first Apply): what a disconnect ends.
    connection: Option<String>,
}

impl DaemonSink {
    /// Connects now, so a missing daemon is reported before anything else happens.
    pub async fn connect(socket: PathBuf) -> Result<Self, ClientError> {
        let client = Client::connect(&socket).await?;
        Ok(Self {
            socket,
            client: Some(client),
            timeout: DAEMON_TIMEOUT,
            connection: None,
        })
    }

    /// How long a request may wait for the daemon's answer (default [`DAEMON_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `request`; when a kept connection turns out closed (the daemon restarted since), once
    /// more on a new one. Apply and Disconnect may be repeated: the daemon applies differences.
    async fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let reused = self.client.is_some();
        match self.request_once(request).await {
            Err(ClientError::Closed | ClientError::Frame(_)) if reused => {
                tracing::debug!("the connection to the kubewire daemon was closed; reconnecting");
                self.request_once(request).await
            }
            other => other,
        }
    }

    async fn request_once(&mut self, request: &Request) -> Result<Response, ClientError> {
        if self.client.is_none() {
            self.client = Some(Client::connect(&self.socket).await?);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(ClientError::Closed);
        };
        let (result, broken) = match tokio::time::timeout(self.timeout, client.request(request)).await {
            Ok(result) => {
                let broken = matches!(result, Err(ClientError::Closed | ClientError::Frame(_)));
                (result, broken)
            }
            Err(_) => (
                Err(ClientError::NoAnswer {
                    secs: self.timeout.as_secs(),
                }),
                true,
            ),
        };
        if broken {
            // The connection is gone or out of step: the next request opens a new one.
            self.client = None;
        }
        result
    }
}

impl PlanSink for DaemonSink {
    fn apply<'a>(&'a mut self, update: &'a PlanUpdate) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.connection = Some(update.session.connection());
            let request = Request::Apply {
                plan: Box::new(update.plan.clone()),
                private_key: SecretKey(update.private_key.to_base64()),
                preshared_key: update.preshared_key.as_ref().map(|k| SecretKey(k.to_base64())),
                session: update.session.clone(),
            };
            match self.request(&request).await? {
                Response::Applied { changes, .. } => {
                    tracing::info!(
                        peers_added = changes.peers_added.len(),
                        peers_removed = changes.peers_removed.len(),
                        routes_added = changes.routes_added.len(),
                        routes_removed = changes.routes_removed.len(),
                        refused = changes.refused.len(),
                        "plan applied by the daemon"
                    );
                    Ok(())
                }
                _ => Err(SinkError::Daemon(ClientError::Unexpected)),
            }
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            // Only this connection: the others are not this controller's. Nothing applied, nothing
            // to end.
            let Some(name) = self.connection.clone() else {
                return Ok(());
            };
            match self.request(&Request::Disconnect { name: Some(name) }).await {
                Ok(_) => Ok(()),
                Err(ClientError::Daemon {
                    code: kubewire_ipc::ErrorCode::NoSession,
                    ..
                }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Sends every Plan to a channel (tests, and embedding without a daemon).
#[derive(Debug, Clone)]
pub struct ChannelSink {
    tx: mpsc::UnboundedSender<Option<Plan>>,
}

impl ChannelSink {
    /// A sink and the receiving end: `Some(plan)` per Plan, `None` on disconnect.
    #[must_use]
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Option<Plan>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

impl PlanSink for ChannelSink {
    fn apply<'a>(&'a mut self, update: &'a PlanUpdate) -> BoxFuture<'a, Result<(), SinkError>> {
        let result = self
            .tx
            .send(Some(update.plan.clone()))
            .map_err(|_| SinkError::Closed);
        Box::pin(async move { result })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        let result = self.tx.send(None).map_err(|_| SinkError::Closed);
        Box::pin(async move { result })
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    /// A daemon that takes connections and requests but never answers (stuck, or stopped).
    async fn stuck_daemon(socket: &std::path::Path) -> tokio::sync::mpsc::UnboundedReceiver<()> {
        let listener = tokio::net::UnixListener::bind(socket).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = tx.send(());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                });
            }
        });
        rx
    }

    #[tokio::test]
    async fn a_daemon_that_does_not_answer_is_reported_and_the_next_request_reconnects() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("kubewired.sock");
        let mut connections = stuck_daemon(&socket).await;
        let mut sink = DaemonSink::connect(socket)
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(200));
        // As after an Apply of connection "lab" (a disconnect ends only this controller's).
        sink.connection = Some("lab".into());
        connections.recv().await.unwrap();
        let err = sink.disconnect().await.unwrap_err();
        assert!(
            matches!(err, SinkError::Daemon(ClientError::NoAnswer { .. })),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("sudo systemctl restart kubewired"),
            "{err}"
        );
        // The connection is out of step now: the next request opens a fresh one.
        assert!(sink.disconnect().await.is_err());
        tokio::time::timeout(Duration::from_secs(5), connections.recv())
            .await
            .expect("a second connection")
            .unwrap();
    }
}
