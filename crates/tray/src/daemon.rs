//! Following `kubewired`: its status on connecting and every event after (state changes, per-peer
//! statistics every 2 s while a tunnel is up). One subscription serves the window, the tray and the
//! controller (statistics for its failover; the daemon's going away and coming back, on which it
//! applies its Plan again). When the daemon cannot be reached the error (with its fix) is shown and
//! the connection retried with backoff: from 100 ms after a daemon that went away (a restart is
//! usually back within a second), doubling up to 2 s while the app's controller waits for it and
//! 10 s otherwise.

use std::time::Duration;

use kubewire_cluster::daemon_events::{DaemonSignal, RECONNECT_FIRST, RECONNECT_MAX};
use kubewire_ipc::{Client, ClientError, Event, Request, Response};

use crate::app::{App, lock, now, update};
use crate::errors::from_client;

/// The longest wait between attempts to reach the daemon.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs for the life of the app.
pub async fn follow(app: App) {
    let socket = app.socket.clone();
    let mut backoff = RECONNECT_FIRST;
    loop {
        match open(&app, &socket).await {
            Ok(client) => {
                let message = stream(&app, client).await;
                tracing::info!(%message, "the kubewire daemon went away");
                signal(&app, DaemonSignal::Lost { message }).await;
                update(&app, |m| m.daemon_lost(now()));
                backoff = RECONNECT_FIRST;
            }
            Err(error) => {
                tracing::debug!(%error, "kubewire daemon unreachable");
                signal(
                    &app,
                    DaemonSignal::Lost {
                        message: error.to_string(),
                    },
                )
                .await;
                let ui = from_client(&error);
                update(&app, |m| m.daemon_unreachable(ui, now()));
            }
        }
        tokio::time::sleep(backoff).await;
        let cap = if lock(&app.daemon_signals).is_some() {
            RECONNECT_MAX
        } else {
            MAX_BACKOFF
        };
        backoff = (backoff * 2).min(cap);
    }
}

/// Connects, reads the status and subscribes; the controller hears that the daemon answers.
async fn open(app: &App, socket: &std::path::Path) -> Result<Client, ClientError> {
    let mut client = Client::connect(socket).await?;
    let status = match client.request(&Request::Status).await? {
        Response::Status { status } => *status,
        _ => return Err(ClientError::Unexpected),
    };
    client.subscribe().await?;
    tracing::info!(socket = %socket.display(), "following the kubewire daemon");
    signal(
        app,
        DaemonSignal::Back {
            status: Box::new(status.clone()),
        },
    )
    .await;
    update(app, |m| m.daemon_status(status, now()));
    Ok(client)
}

/// Follows the events until the stream ends; returns why it ended.
async fn stream(app: &App, mut client: Client) -> String {
    loop {
        match client.next_event().await {
            Ok(Some(Event::Status { status })) => {
                signal(app, DaemonSignal::Stats(status.peers.clone())).await;
                update(app, |m| m.daemon_status(*status, now()));
            }
            Ok(Some(Event::PeerStats { peers })) => {
                signal(app, DaemonSignal::Stats(peers.clone())).await;
                update(app, |m| {
                    m.peer_stats(peers, now());
                    Vec::new()
                });
            }
            Ok(None) => return "the kubewire daemon closed the connection".into(),
            Err(error) => return error.to_string(),
        }
    }
}

/// Tells the running controller, if any: statistics may be dropped when it is busy (the next
/// come 2 s later), the daemon's going away and coming back never are.
async fn signal(app: &App, signal: DaemonSignal) {
    let tx = lock(&app.daemon_signals).clone();
    let Some(tx) = tx else { return };
    match signal {
        DaemonSignal::Stats(_) => {
            let _ = tx.try_send(signal);
        }
        other => {
            let _ = tx.send(other).await;
        }
    }
}
