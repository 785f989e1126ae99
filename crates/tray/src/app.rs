//! The tray process's shared state (the [`TrayModel`], settings, the running controller) and
//! `publish`, which sends every change to the window (`state` event over the link), the tray icon
//! (icon, tooltip, menu) and, for the few changes worth it, a notification.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kubewire_cluster::ControllerHandle;
use kubewire_cluster::daemon_events::DaemonSignal;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::link::LinkMessage;
use crate::logs::LogBuffer;
use crate::model::{Notice, TrayModel};
use crate::tray::Shown;
use crate::types::{ContextInfo, Settings};
use crate::window::WindowState;

/// The app: one per process, shared by the tray, the link's connections and the background tasks.
pub type App = Arc<Shared>;

/// Everything the app shares.
#[derive(Debug)]
pub struct Shared {
    pub model: Mutex<TrayModel>,
    pub contexts: Mutex<Vec<ContextInfo>>,
    pub settings: Mutex<Settings>,
    pub settings_path: Option<PathBuf>,
    /// The daemon's socket (`KUBEWIRE_SOCKET`, else the default).
    pub socket: PathBuf,
    pub logs: LogBuffer,
    /// The app's controller, while it follows the cluster.
    pub connection: tokio::sync::Mutex<Option<ControllerHandle>>,
    /// A connect in progress (aborted by Disconnect).
    pub connecting: Mutex<Option<tokio::task::AbortHandle>>,
    /// Where the daemon follower tells the running controller about the daemon: per-peer
    /// statistics (failover), and its going away and coming back (the controller then re-applies).
    pub daemon_signals: Mutex<Option<mpsc::Sender<DaemonSignal>>>,
    /// Events for the window (every link connection subscribes).
    pub events: broadcast::Sender<LinkMessage>,
    /// What the tray icon shows (its backend follows this).
    pub tray: watch::Sender<Shown>,
    /// Set once to quit.
    pub exit: watch::Sender<bool>,
    /// The window process.
    pub window: Mutex<WindowState>,
}

/// Locks, ignoring poisoning (the data stays usable: every writer leaves it consistent).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unix seconds now.
#[must_use]
pub fn now() -> u64 {
    kubewire_ipc::time::now_secs()
}

impl Shared {
    /// The app for this process's environment.
    #[must_use]
    pub fn new(logs: LogBuffer) -> App {
        let socket = std::env::var_os("KUBEWIRE_SOCKET")
            .map_or_else(|| PathBuf::from(kubewire_ipc::DEFAULT_SOCKET), PathBuf::from);
        let settings_path = crate::settings::path();
        let settings = crate::settings::load(settings_path.as_deref());
        let model = TrayModel::new();
        let shown = Shown::of(&model, &[]);
        Arc::new(Self {
            model: Mutex::new(model),
            contexts: Mutex::new(Vec::new()),
            settings: Mutex::new(settings),
            settings_path,
            socket,
            logs,
            connection: tokio::sync::Mutex::new(None),
            connecting: Mutex::new(None),
            daemon_signals: Mutex::new(None),
            events: broadcast::channel(1024).0,
            tray: watch::channel(shown).0,
            exit: watch::channel(false).0,
            window: Mutex::new(WindowState::default()),
        })
    }

    /// Sends an event to the window, if one is attached.
    pub fn emit(&self, name: &str, payload: &impl Serialize) {
        match serde_json::to_value(payload) {
            Ok(payload) => {
                let _ = self.events.send(LinkMessage::Event {
                    name: name.to_owned(),
                    payload,
                });
            }
            Err(error) => tracing::warn!(%error, event = name, "unserializable event"),
        }
    }

    /// Quits the app (the main loop returns).
    pub fn quit(&self) {
        self.exit.send_replace(true);
    }
}

/// Changes the model and publishes the result.
pub fn update(app: &App, change: impl FnOnce(&mut TrayModel) -> Vec<Notice>) {
    let notices = change(&mut lock(&app.model));
    publish(app, &notices);
}

/// Sends the model's state to the window and the tray, and shows `notices`.
pub fn publish(app: &App, notices: &[Notice]) {
    let (state, shown) = {
        let model = lock(&app.model);
        let contexts = lock(&app.contexts);
        (model.state().clone(), Shown::of(&model, &contexts))
    };
    app.emit("state", &state);
    app.tray.send_if_modified(|last| {
        let changed = *last != shown;
        *last = shown;
        changed
    });
    for notice in notices {
        crate::notify::show(notice);
    }
}
