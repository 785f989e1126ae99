//! The window's side of the link to the tray process: requests by id (answered in any order), and
//! the tray's events handed to the webview. Starts the tray when none runs (the window was opened
//! on its own).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kubewire_ipc::framing;
use kubewire_tray::link::{self, LinkMessage, LinkRequest, LinkResult, ReadHalf, WriteHalf};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The tray's binary, next to this one (`KUBEWIRE_TRAY_BIN` overrides it).
pub const TRAY_BIN_ENV: &str = "KUBEWIRE_TRAY_BIN";

/// How long a tray we started may take to listen.
const START_WAIT: Duration = Duration::from_secs(10);

/// The connection to the tray.
pub struct Link {
    writer: tokio::sync::Mutex<WriteHalf>,
    pending: Mutex<HashMap<u64, oneshot::Sender<LinkResult>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

/// Connects to the tray at `path`, starting it (in the tray, no window of its own) when none answers.
pub async fn connect(path: &Path) -> anyhow::Result<(Arc<Link>, ReadHalf)> {
    let (r, w) = match link::connect(path).await {
        Ok(halves) => halves,
        Err(_) => {
            let bin = kubewire_tray::sibling::binary("kubewire-tray", TRAY_BIN_ENV);
            tracing::info!(bin = %bin.display(), "no tray running; starting it");
            let mut child = std::process::Command::new(&bin)
                .arg(kubewire_tray::MINIMIZED_FLAG)
                .spawn()
                .with_context(|| format!("cannot start the tray app {}", bin.display()))?;
            let started = Instant::now();
            loop {
                if let Ok(halves) = link::connect(path).await {
                    // The tray lives on after this window; its exit status is not ours to wait for.
                    std::thread::spawn(move || child.wait());
                    break halves;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    anyhow::bail!("the tray app {} exited ({status})", bin.display());
                }
                if started.elapsed() > START_WAIT {
                    anyhow::bail!(
                        "the tray app {} did not start listening at {} within {} s",
                        bin.display(),
                        path.display(),
                        START_WAIT.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    Ok((
        Arc::new(Link {
            writer: tokio::sync::Mutex::new(w),
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }),
        r,
    ))
}

/// The error the window shows when the tray went away mid-request.
fn gone() -> Value {
    json!({
        "kind": "other",
        "title": "The kubewire tray app stopped",
        "message": "The window lost its connection to kubewire-tray.",
        "fix": "Start kubewire again from your applications menu.",
        "command": "kubewire-tray",
    })
}

impl Link {
    /// Runs `cmd` in the tray: its value, or its `UiError`.
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let request = LinkRequest {
            id,
            cmd: cmd.to_owned(),
            args,
        };
        if let Err(error) = framing::write(&mut *self.writer.lock().await, &request).await {
            tracing::warn!(%error, cmd, "link: cannot send");
            return Err(gone());
        }
        match rx.await {
            Ok(LinkResult::Ok(v)) => Ok(v),
            Ok(LinkResult::Err(e)) => Err(e),
            Err(_) => Err(gone()),
        }
    }

    /// Reads the tray's messages until it closes the link: replies to their callers, events to
    /// `on_event`.
    pub async fn read(&self, mut reader: ReadHalf, mut on_event: impl FnMut(String, Value)) {
        loop {
            match framing::read::<_, LinkMessage>(&mut reader).await {
                Ok(Some(LinkMessage::Reply { id, result })) => {
                    let waiter = self
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    if let Some(tx) = waiter {
                        let _ = tx.send(result);
                    }
                }
                Ok(Some(LinkMessage::Event { name, payload })) => on_event(name, payload),
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "link: unreadable message");
                    break;
                }
            }
        }
        // Every waiting call gets the "tray stopped" error.
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
