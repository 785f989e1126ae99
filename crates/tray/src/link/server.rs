//! Serving the link: each connection's requests run as the contract's commands
//! ([`crate::commands::call`]) and are answered in any order by id; the app's events follow on the
//! same connection. `attach` makes the connection the window; `open_window` is what a second start
//! of `kubewire-tray` sends.

use kubewire_ipc::framing;
use tokio::sync::{broadcast, mpsc};

use super::{LinkMessage, LinkRequest, LinkResult, Listener, ReadHalf, WriteHalf};
use crate::app::App;
use crate::{commands, window};

/// Accepts connections until the app quits.
pub async fn serve(app: App, listener: Listener) {
    loop {
        match listener.accept().await {
            Ok((r, w)) => {
                tokio::spawn(connection(app.clone(), r, w));
            }
            Err(error) => {
                tracing::warn!(%error, "link: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

async fn connection(app: App, mut reader: ReadHalf, writer: WriteHalf) {
    let (tx, rx) = mpsc::channel::<LinkMessage>(64);
    let events = app.events.subscribe();
    let writing = tokio::spawn(write_loop(writer, rx, events));
    let mut is_window = false;
    loop {
        let LinkRequest { id, cmd, args } = match framing::read(&mut reader).await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "link: unreadable request; closing");
                break;
            }
        };
        let reply = |result| LinkMessage::Reply { id, result };
        match cmd.as_str() {
            "attach" => {
                let ok = !is_window && window::attach(&app);
                is_window |= ok;
                tracing::info!(attached = ok, "window attach");
                let _ = tx.send(reply(LinkResult::Ok(ok.into()))).await;
            }
            "open_window" => {
                window::open(&app);
                let _ = tx.send(reply(LinkResult::Ok(true.into()))).await;
            }
            _ => {
                let app = app.clone();
                let tx = tx.clone();
                let cmd = cmd.clone();
                tokio::spawn(async move {
                    let result = match commands::call(&app, &cmd, args).await {
                        Ok(v) => LinkResult::Ok(v),
                        Err(e) => LinkResult::Err(e),
                    };
                    let _ = tx.send(LinkMessage::Reply { id, result }).await;
                });
            }
        }
    }
    if is_window {
        window::detach(&app);
        tracing::info!("window closed; the app stays in the tray");
    }
    writing.abort();
}

async fn write_loop(
    mut writer: WriteHalf,
    mut replies: mpsc::Receiver<LinkMessage>,
    mut events: broadcast::Receiver<LinkMessage>,
) {
    loop {
        let message = tokio::select! {
            m = replies.recv() => match m {
                Some(m) => m,
                None => return,
            },
            e = events.recv() => match e {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "link: the window fell behind; events dropped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if let Err(error) = framing::write(&mut writer, &message).await {
            tracing::debug!(%error, "link: the window went away");
            return;
        }
    }
}
