//! The app's shared state (the [`TrayModel`], settings, the running controller) and `publish`, which
//! sends every change to the window (`state` event), the tray (icon, tooltip, menu) and, for the few
//! changes worth it, a notification.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kubewire_cluster::ControllerHandle;
use kubewire_ipc::PeerStatus;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::mpsc;

use crate::logs::LogBuffer;
use crate::model::{Notice, TrayModel};
use crate::types::{ContextInfo, Settings};
use crate::{notify, tray};

/// Everything the app shares between the tray, the commands and its background tasks.
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
    /// Where the daemon follower forwards per-peer statistics for the controller's failover.
    pub peer_stats: Mutex<Option<mpsc::Sender<Vec<PeerStatus>>>>,
    /// What the tray shows now (updated only when it changes).
    pub tray_shown: Mutex<Option<tray::Shown>>,
}

/// Locks, ignoring poisoning (the data stays usable: every writer leaves it consistent).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unix seconds now.
#[must_use]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    /// The state for this process's environment.
    #[must_use]
    pub fn new(logs: LogBuffer) -> Self {
        let socket = std::env::var_os("KUBEWIRE_SOCKET")
            .map_or_else(|| PathBuf::from(kubewire_ipc::DEFAULT_SOCKET), PathBuf::from);
        let settings_path = crate::settings::path();
        let settings = crate::settings::load(settings_path.as_deref());
        Self {
            model: Mutex::new(TrayModel::new()),
            contexts: Mutex::new(Vec::new()),
            settings: Mutex::new(settings),
            settings_path,
            socket,
            logs,
            connection: tokio::sync::Mutex::new(None),
            connecting: Mutex::new(None),
            peer_stats: Mutex::new(None),
            tray_shown: Mutex::new(None),
        }
    }
}

/// The shared state of `app`.
#[must_use]
pub fn shared(app: &AppHandle) -> Arc<Shared> {
    app.state::<Arc<Shared>>().inner().clone()
}

/// Changes the model and publishes the result.
pub fn update(app: &AppHandle, change: impl FnOnce(&mut TrayModel) -> Vec<Notice>) {
    let shared = shared(app);
    let notices = change(&mut lock(&shared.model));
    publish(app, &shared, &notices);
}

/// Sends the model's state to the window and the tray, and shows `notices`.
pub fn publish(app: &AppHandle, shared: &Shared, notices: &[Notice]) {
    let (state, shown) = {
        let model = lock(&shared.model);
        let contexts = lock(&shared.contexts);
        (model.state().clone(), tray::Shown::of(&model, &contexts))
    };
    if let Err(error) = app.emit("state", &state) {
        tracing::debug!(%error, "emitting state");
    }
    tray::show(app, shared, shown);
    for notice in notices {
        notify::show(app, notice);
    }
}
