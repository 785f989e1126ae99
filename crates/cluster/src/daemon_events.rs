//! Following the daemon's event stream (a second connection, subscribed) for per-peer handshake
//! ages: the controller's failover and first-handshake step read them.

use std::path::Path;

use kubewire_ipc::{Client, ClientError, Event, PeerStatus};
use tokio::sync::mpsc;

/// Subscribes to the daemon's events and forwards per-peer statistics (from `PeerStats` events and
/// from the peers of `Status` events) until the daemon closes the connection.
pub async fn follow_peer_stats(socket: &Path) -> Result<mpsc::Receiver<Vec<PeerStatus>>, ClientError> {
    let mut client = Client::connect(socket).await?;
    client.subscribe().await?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let peers = match client.next_event().await {
                Ok(Some(Event::PeerStats { peers })) => peers,
                Ok(Some(Event::Status { status })) => status.peers,
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "daemon event stream ended");
                    break;
                }
            };
            if tx.send(peers).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
