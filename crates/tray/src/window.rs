//! The window: a separate process (`kubewire-window`, the webview), started when the user opens it
//! and gone when they close it, so the tray holds no webview at rest. It attaches over the link; a
//! second one is told to leave and the first comes to the front instead.

use std::time::{Duration, Instant};

use crate::app::{App, lock};
use crate::link::FOCUS;

/// The window process's binary, next to this one (`KUBEWIRE_WINDOW_BIN` overrides it).
pub const WINDOW_BIN_ENV: &str = "KUBEWIRE_WINDOW_BIN";

/// How long a started window may take to attach before "Open" starts another.
const ATTACH_GRACE: Duration = Duration::from_secs(15);

/// Where the window stands.
#[derive(Debug, Default)]
pub struct WindowState {
    /// A window is attached over the link.
    pub attached: bool,
    /// When the last window process was started (it may not have attached yet).
    pub started: Option<Instant>,
}

/// Shows the window: brings the attached one to the front, or starts one.
pub fn open(app: &App) {
    let mut state = lock(&app.window);
    if state.attached {
        app.emit(FOCUS, &());
        return;
    }
    if state.started.is_some_and(|t| t.elapsed() < ATTACH_GRACE) {
        tracing::debug!("a window is starting");
        return;
    }
    let bin = crate::sibling::binary("kubewire-window", WINDOW_BIN_ENV);
    match tokio::process::Command::new(&bin).kill_on_drop(false).spawn() {
        Ok(mut child) => {
            state.started = Some(Instant::now());
            tracing::info!(pid = child.id(), "window started");
            // Reap it when it exits.
            tokio::spawn(async move {
                let status = child.wait().await;
                tracing::info!(?status, "window process exited");
            });
        }
        Err(error) => {
            tracing::error!(bin = %bin.display(), %error, "cannot start the window");
        }
    }
}

/// A window attaches; `false` when one is already attached (that one comes to the front).
pub fn attach(app: &App) -> bool {
    let mut state = lock(&app.window);
    if state.attached {
        app.emit(FOCUS, &());
        return false;
    }
    state.attached = true;
    state.started = None;
    true
}

/// The attached window left.
pub fn detach(app: &App) {
    lock(&app.window).attached = false;
}
