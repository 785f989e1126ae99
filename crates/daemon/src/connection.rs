//! One client connection: requests in order, and events once it subscribed.

use std::sync::Arc;

use kubewire_ipc::{Connection, Event, Request, Response};
use tokio::sync::broadcast;

use crate::daemon::Daemon;

pub async fn serve(daemon: Arc<Daemon>, mut conn: Connection) {
    let id = daemon.connection_id();
    let peer = conn.peer.clone();
    let mut events: Option<broadcast::Receiver<Event>> = None;
    loop {
        tokio::select! {
            request = conn.recv() => match request {
                None => break,
                Some(Err(kubewire_ipc::FrameError::Idle(secs))) => {
                    // Closed without a word: a client that sends later reconnects and resends.
                    tracing::debug!(uid = peer.uid, secs, "closing an idle connection");
                    break;
                }
                Some(Err(err)) => {
                    tracing::debug!(uid = peer.uid, error = %err, "unreadable request");
                    let _ = conn.send(&Connection::frame_error_response(&err)).await;
                    break;
                }
                Some(Ok(request)) => {
                    let subscribe = matches!(request, Request::Subscribe);
                    if subscribe && events.is_none() {
                        events = Some(daemon.subscribe());
                    }
                    let apply = matches!(request, Request::Apply { .. });
                    let response = daemon.handle(id, &peer, request).await;
                    if subscribe || apply {
                        // A controller or a watcher: it may stay silent between requests.
                        conn.keep_open();
                    }
                    if conn.send(&response).await.is_err() {
                        break;
                    }
                    if subscribe {
                        // The current status first, so a subscriber needs no separate request.
                        let status = daemon.current_status().await;
                        let event = Event::Status { status: Box::new(status) };
                        if conn.send(&Response::Event { event }).await.is_err() {
                            break;
                        }
                    }
                }
            },
            event = next_event(&mut events) => match event {
                Ok(event) => {
                    if conn.send(&Response::Event { event }).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(uid = peer.uid, skipped = n, "a slow subscriber missed events");
                }
                Err(broadcast::error::RecvError::Closed) => events = None,
            },
        }
    }
    daemon.connection_closed(id).await;
}

async fn next_event(
    events: &mut Option<broadcast::Receiver<Event>>,
) -> Result<Event, broadcast::error::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
