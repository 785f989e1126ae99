//! Linux: logind's word that the machine sleeps and wakes (`PrepareForSleep(true)` before a
//! suspend, `PrepareForSleep(false)` after it), on the system bus. A resume it tells is handled like
//! one the clocks tell ([`crate::resume`]), which remains the fallback where logind is absent (a
//! container, a lab namespace). Every step of setting up gives up after 3 s: a wedged bus never
//! holds up the daemon.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;

use crate::daemon::Daemon;
use crate::power::{PowerEvent, SleepClock};

const BUS_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs for the daemon's life (returns at once, with a debug line, where logind cannot be heard).
pub async fn run(daemon: Arc<Daemon>) {
    let mut signals = match subscribe().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "logind not heard: resume is told by the clocks only");
            return;
        }
    };
    let mut clock = SleepClock::default();
    while let Some(message) = signals.next().await {
        let Ok(going) = message.body().deserialize::<bool>() else {
            continue;
        };
        let event = if going {
            tracing::info!("logind: the machine goes to sleep");
            PowerEvent::Sleeping
        } else {
            PowerEvent::Resumed
        };
        if let Some(away) = clock.heard(event, SystemTime::now()) {
            tracing::info!(away_secs = away.as_secs(), "logind: resumed");
            daemon.resumed(away).await;
        }
    }
}

async fn subscribe() -> Result<zbus::proxy::SignalStream<'static>, String> {
    let asked = async {
        let conn = zbus::Connection::system().await?;
        let proxy = zbus::Proxy::new_owned(
            conn,
            "org.freedesktop.login1",
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
        )
        .await?;
        proxy.receive_signal("PrepareForSleep").await
    };
    match tokio::time::timeout(BUS_TIMEOUT, asked).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the system bus did not answer within 3 s".into()),
    }
}
