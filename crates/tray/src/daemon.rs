//! Following `kubewired`: its status on connecting and every event after (state changes, per-peer
//! statistics every 2 s while a tunnel is up). One subscription serves the window, the tray and the
//! controller's failover (statistics are forwarded to it). When the daemon cannot be reached the
//! error (with its fix) is shown and the connection retried with backoff (2 s up to 10 s).

use std::time::Duration;

use kubewire_ipc::{Client, ClientError, Event, Request, Response};

use crate::app::{App, lock, now, update};
use crate::errors::from_client;

/// The longest wait between attempts to reach the daemon.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs for the life of the app.
pub async fn follow(app: App) {
    let socket = app.socket.clone();
    let mut backoff = Duration::from_secs(2);
    loop {
        match session(&app, &socket).await {
            Ok(()) => {
                tracing::info!("the kubewire daemon closed the connection");
                backoff = Duration::from_secs(2);
            }
            Err(error) => {
                tracing::debug!(%error, "kubewire daemon unreachable");
                let ui = from_client(&error);
                update(&app, |m| m.daemon_unreachable(ui, now()));
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn session(app: &App, socket: &std::path::Path) -> Result<(), ClientError> {
    let mut client = Client::connect(socket).await?;
    let status = match client.request(&Request::Status).await? {
        Response::Status { status } => *status,
        _ => return Err(ClientError::Unexpected),
    };
    forward_stats(app, status.peers.clone());
    update(app, |m| m.daemon_status(status, now()));
    client.subscribe().await?;
    tracing::info!(socket = %socket.display(), "following the kubewire daemon");
    while let Some(event) = client.next_event().await? {
        match event {
            Event::Status { status } => {
                forward_stats(app, status.peers.clone());
                update(app, |m| m.daemon_status(*status, now()));
            }
            Event::PeerStats { peers } => {
                forward_stats(app, peers.clone());
                update(app, |m| {
                    m.peer_stats(peers, now());
                    Vec::new()
                });
            }
        }
    }
    Ok(())
}

/// Hands statistics to the running controller (failover, first handshake), if any.
fn forward_stats(app: &App, peers: Vec<kubewire_ipc::PeerStatus>) {
    if let Some(tx) = lock(&app.peer_stats).as_ref() {
        let _ = tx.try_send(peers);
    }
}
