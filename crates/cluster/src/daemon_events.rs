//! Following the daemon (a second connection, subscribed): per-peer handshake ages for the
//! controller's failover and first-handshake step, and the daemon's comings and goings. When the
//! event stream closes (the daemon stopped, crashed or is being restarted) the controller hears
//! [`DaemonSignal::Lost`], and this follower reconnects with backoff; once the daemon answers again
//! the controller hears [`DaemonSignal::Back`] and applies its Plan again (a restarted daemon starts
//! with no tunnel: it cleans up what its predecessor left and waits for its controller).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubewire_ipc::{Client, ClientError, Event, PeerStatus, Status};
use tokio::sync::mpsc;

/// The first wait before reconnecting to a daemon that went away.
pub const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// What the controller hears about its daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonSignal {
    /// Per-peer statistics (from `PeerStats` events and the peers of `Status` events).
    Stats(Vec<PeerStatus>),
    /// The daemon's event stream closed, or the daemon cannot be reached: it stopped or restarts.
    Lost {
        /// Why, for the user.
        message: String,
    },
    /// The daemon answers again after [`DaemonSignal::Lost`]; its status as it answered.
    Back {
        /// The daemon's status (no tunnel after a restart).
        status: Box<Status>,
    },
}

/// The next wait of a backoff that starts at [`RECONNECT_FIRST`] and doubles up to [`RECONNECT_MAX`].
#[must_use]
pub fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(RECONNECT_FIRST, RECONNECT_MAX)
}

/// Subscribes to the daemon's events and forwards them as [`DaemonSignal`]s for as long as the
/// receiver lives: statistics while the daemon runs, `Lost` when its stream ends, `Back` when it
/// answers again (reconnecting with backoff in between). Fails only when the first connection
/// fails, so a missing daemon is reported at once.
pub async fn follow_daemon(socket: &Path) -> Result<mpsc::Receiver<DaemonSignal>, ClientError> {
    let client = subscribe(socket).await?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(socket.to_path_buf(), client, tx));
    Ok(rx)
}

async fn subscribe(socket: &Path) -> Result<Client, ClientError> {
    let mut client = Client::connect(socket).await?;
    client.subscribe().await?;
    Ok(client)
}

async fn run(socket: PathBuf, mut client: Client, tx: mpsc::Sender<DaemonSignal>) {
    let mut first = true;
    loop {
        let ended = forward(&mut client, &tx, first).await;
        first = false;
        let message = match ended {
            Forwarded::ReceiverGone => return,
            Forwarded::Ended(message) => message,
        };
        tracing::info!(%message, "the kubewire daemon went away; reconnecting");
        if tx.send(DaemonSignal::Lost { message }).await.is_err() {
            return;
        }
        let mut wait = RECONNECT_FIRST;
        client = loop {
            tokio::time::sleep(wait).await;
            if tx.is_closed() {
                return;
            }
            match subscribe(&socket).await {
                Ok(c) => break c,
                Err(error) => {
                    tracing::debug!(%error, "the kubewire daemon does not answer yet");
                    wait = next_backoff(wait);
                }
            }
        };
        tracing::info!("the kubewire daemon answers again");
    }
}

enum Forwarded {
    ReceiverGone,
    Ended(String),
}

/// Forwards events until the stream ends. The first `Status` after a reconnect (the daemon sends
/// one right after `Subscribed`) becomes `Back`.
async fn forward(client: &mut Client, tx: &mpsc::Sender<DaemonSignal>, first: bool) -> Forwarded {
    let mut announced = first;
    loop {
        let signal = match client.next_event().await {
            Ok(Some(Event::Status { status })) if !announced => {
                announced = true;
                DaemonSignal::Back { status }
            }
            Ok(Some(Event::Status { status })) => DaemonSignal::Stats(status.peers),
            Ok(Some(Event::PeerStats { peers })) => DaemonSignal::Stats(peers),
            Ok(None) => return Forwarded::Ended("the kubewire daemon closed the connection".into()),
            Err(error) => return Forwarded::Ended(error.to_string()),
        };
        if tx.send(signal).await.is_err() {
            return Forwarded::ReceiverGone;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut wait = RECONNECT_FIRST;
        let mut seen = vec![wait];
        for _ in 0..6 {
            wait = next_backoff(wait);
            seen.push(wait);
        }
        assert_eq!(seen[1], Duration::from_millis(200));
        assert_eq!(*seen.last().unwrap_or(&wait), RECONNECT_MAX);
    }
}
