//! What the user can do, from the tray menu or the window: connect (to a kubeconfig context),
//! disconnect, open the window, quit. The tray's menu handler and the window's commands call these
//! same functions.

use std::sync::Arc;

use kubewire_cluster::controller::StopMode;
use kubewire_cluster::{ConnectOptions, DaemonSink, kubeconfig, registration};
use kubewire_ipc::{Client, ClientError, ErrorCode, Request, Response};
use tauri::AppHandle;
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind, MessageDialogResult};
use tokio::sync::mpsc;

use crate::app::{Shared, lock, now, publish, shared, update};
use crate::errors::{from_client, from_cluster};
use crate::model::{Connected, MenuAction};
use crate::types::{ContextInfo, ErrorKind, Settings, UiError};
use crate::window;

/// A tray menu item was clicked.
pub fn menu(app: &AppHandle, id: &str) {
    let Some(action) = MenuAction::from_id(id) else {
        return;
    };
    tracing::info!(item = id, "tray menu");
    let app = app.clone();
    match action {
        MenuAction::Connect(context) => {
            tauri::async_runtime::spawn(async move {
                let _ = connect(&app, Some(context)).await;
            });
        }
        MenuAction::Disconnect => {
            tauri::async_runtime::spawn(async move {
                let _ = disconnect(&app).await;
            });
        }
        MenuAction::Open => window::open(&app),
        MenuAction::Quit => quit(&app),
        MenuAction::Status | MenuAction::Separator => {}
    }
}

/// The kubeconfig's contexts (also refreshes the tray menu's list).
pub fn list_contexts(app: &AppHandle) -> Result<Vec<ContextInfo>, UiError> {
    let shared = shared(app);
    let loaded = kubeconfig::load(None).map_err(|e| from_cluster(&e))?;
    let contexts: Vec<ContextInfo> = loaded
        .contexts()
        .into_iter()
        .map(|c| ContextInfo {
            name: c.name,
            cluster: c.cluster,
            server: c.server,
            namespace: c.namespace,
            current: c.current,
        })
        .collect();
    *lock(&shared.contexts) = contexts.clone();
    publish(app, &shared, &[]);
    Ok(contexts)
}

/// The connect options for the user's settings.
pub fn options(settings: &Settings, context: Option<String>) -> Result<ConnectOptions, UiError> {
    let mut o = ConnectOptions::new().map_err(|e| from_cluster(&e))?;
    o.context = context;
    if let Some(cidr) = &settings.service_cidr {
        let cidr = cidr.parse().map_err(|e| UiError {
            kind: ErrorKind::Other,
            title: "The service CIDR override is not a CIDR".into(),
            message: format!("{cidr:?}: {e}"),
            fix: "Correct it in Settings (e.g. 10.43.0.0/16) or leave it empty.".into(),
            command: None,
        })?;
        o.settings.service_cidrs = vec![cidr];
    }
    o.settings.service_gateway.clone_from(&settings.service_gateway);
    if settings.default_namespace != "default" && !settings.default_namespace.is_empty() {
        o.settings.namespace.clone_from(&settings.default_namespace);
        o.namespace_given = true;
    }
    o.keep_peer = settings.keep_peer;
    o.local_networks = kubewire_cluster::local_networks::local_networks(&o.settings.interface_name);
    Ok(o)
}

fn busy() -> UiError {
    UiError {
        kind: ErrorKind::Other,
        title: "Already connecting".into(),
        message: "A connection is being set up.".into(),
        fix: "Wait for it to finish, or Disconnect to cancel it.".into(),
        command: None,
    }
}

/// Connects to `context` (the kubeconfig's current one when `None`). Returns once the daemon accepted
/// the request; the steps follow as `state` events.
pub async fn connect(app: &AppHandle, context: Option<String>) -> Result<(), UiError> {
    let shared = shared(app);
    if lock(&shared.model).is_connecting() {
        return Err(busy());
    }
    let settings = lock(&shared.settings).clone();
    // Another context while connected: leave the old cluster first; the same one: take over.
    if let Some(handle) = shared.connection.lock().await.take() {
        let current = lock(&shared.model).state().context.clone();
        let mode = if context.is_some() && context != current {
            StopMode::Disconnect {
                keep_peer: settings.keep_peer,
            }
        } else {
            StopMode::Detach
        };
        if let Err(error) = handle.stop(mode).await {
            tracing::warn!(%error, "stopping the previous connection");
        }
        *lock(&shared.peer_stats) = None;
        lock(&shared.model).stopped_following();
    }
    update(app, |m| {
        m.connect_started(context.clone(), now());
        Vec::new()
    });
    let fail = |app: &AppHandle, error: UiError| {
        tracing::warn!(title = %error.title, message = %error.message, "connect failed");
        update(app, |m| m.connect_failed(error.clone(), now()));
        Err(error)
    };
    let options = match options(&settings, context.clone()) {
        Ok(o) => o,
        Err(e) => return fail(app, e),
    };
    let sink = match DaemonSink::connect(shared.socket.clone()).await {
        Ok(s) => s,
        Err(e) => return fail(app, from_client(&e)),
    };
    let app2 = app.clone();
    let task = tauri::async_runtime::spawn(async move { run_connect(app2, options, sink).await });
    *lock(&shared.connecting) = Some(task.inner().abort_handle());
    Ok(())
}

async fn run_connect(app: AppHandle, options: ConnectOptions, sink: DaemonSink) {
    let shared = shared(&app);
    let (stats_tx, stats_rx) = mpsc::channel(16);
    *lock(&shared.peer_stats) = Some(stats_tx);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events_app = app.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = rx.recv().await {
            tracing::info!(%event, "controller");
            update(&events_app, |m| m.controller_event(&event, now()));
        }
    });
    let result = kubewire_cluster::connect(options, sink, tx, Some(stats_rx)).await;
    *lock(&shared.connecting) = None;
    match result {
        Ok(connection) => {
            tracing::info!(context = %connection.context, peer = %connection.peer_name, "connected");
            let status = connection.controller.status();
            {
                let mut settings = lock(&shared.settings);
                if settings.last_context.as_deref() != Some(connection.context.as_str()) {
                    settings.last_context = Some(connection.context.clone());
                    if let Some(path) = &shared.settings_path
                        && let Err(error) = crate::settings::save(path, &settings)
                    {
                        tracing::warn!(%error, "saving the last context");
                    }
                }
            }
            *shared.connection.lock().await = Some(connection.controller);
            update(&app, |m| {
                m.connected(
                    Connected {
                        context: connection.context,
                        server: connection.server,
                        plan: connection.plan,
                    },
                    now(),
                )
            });
            tauri::async_runtime::spawn(follow_controller(app.clone(), status));
        }
        Err(error) => {
            *lock(&shared.peer_stats) = None;
            let ui = from_cluster(&error);
            tracing::warn!(%error, "connect failed");
            update(&app, |m| m.connect_failed(ui, now()));
        }
    }
}

/// The controller's status (Plan in force, API reachability) into the model, until it stops.
async fn follow_controller(
    app: AppHandle,
    mut status: tokio::sync::watch::Receiver<kubewire_cluster::ControllerStatus>,
) {
    let mut last_plan = None;
    let mut last_reachable = None;
    loop {
        let (plan, reachable) = {
            let s = status.borrow_and_update();
            (s.plan.clone(), s.reachable)
        };
        if plan != last_plan || Some(reachable) != last_reachable {
            last_plan.clone_from(&plan);
            last_reachable = Some(reachable);
            update(&app, |m| {
                m.plan(plan);
                if m.following() {
                    m.api_reachable(reachable);
                }
                Vec::new()
            });
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Takes the tunnel down (and deletes the Peer unless the settings keep it). Returns once it is down.
pub async fn disconnect(app: &AppHandle) -> Result<(), UiError> {
    let shared = shared(app);
    let keep_peer = lock(&shared.settings).keep_peer;
    if let Some(abort) = lock(&shared.connecting).take() {
        abort.abort();
    }
    let handle = shared.connection.lock().await.take();
    *lock(&shared.peer_stats) = None;
    let result = match handle {
        Some(handle) => handle
            .stop(StopMode::Disconnect { keep_peer })
            .await
            .map_err(|e| from_cluster(&e)),
        None => direct_disconnect(&shared, keep_peer).await,
    };
    update(app, |m| {
        m.stopped_following();
        match &result {
            Ok(()) => Vec::new(),
            Err(e) => m.error(e.clone()),
        }
    });
    tracing::info!(ok = result.is_ok(), "disconnect");
    result
}

/// No controller of ours: ask the daemon, and delete the Peer its session names.
async fn direct_disconnect(shared: &Arc<Shared>, keep_peer: bool) -> Result<(), UiError> {
    let mut client = Client::connect(&shared.socket)
        .await
        .map_err(|e| from_client(&e))?;
    let session = match client.request(&Request::Status).await {
        Ok(Response::Status { status }) => status.session,
        _ => None,
    };
    match client.request(&Request::Disconnect).await {
        Ok(_)
        | Err(ClientError::Daemon {
            code: ErrorCode::NoSession,
            ..
        }) => {}
        Err(e) => return Err(from_client(&e)),
    }
    if keep_peer {
        return Ok(());
    }
    if let Some(session) = session.filter(|s| !s.peer_name.is_empty()) {
        let loaded = kubeconfig::load(None).map_err(|e| from_cluster(&e))?;
        let cluster = loaded
            .client(Some(&session.context))
            .await
            .map_err(|e| from_cluster(&e))?;
        if cluster.server == session.cluster.trim_end_matches('/') {
            registration::unregister(&cluster.client, &session.peer_name)
                .await
                .map_err(|e| from_cluster(&e))?;
        }
    }
    Ok(())
}

/// Quit: when the tunnel is up, ask whether to take it down (no: it stays up, unfollowed).
pub fn quit(app: &AppHandle) {
    let up = lock(&shared(app).model).tunnel_up();
    if !up {
        app.exit(0);
        return;
    }
    let app2 = app.clone();
    app.dialog()
        .message("The tunnel to the cluster is up. Disconnect before quitting?\n\nKeep it: the tunnel stays up with its last plan (no longer updated) until you disconnect.")
        .title("Quit kubewire")
        .kind(MessageDialogKind::Info)
        .buttons(MessageDialogButtons::YesNoCancelCustom(
            "Disconnect and quit".into(),
            "Keep the tunnel and quit".into(),
            "Cancel".into(),
        ))
        .show_with_result(move |answer| {
            let choice = match answer {
                MessageDialogResult::Yes => Some(true),
                MessageDialogResult::No => Some(false),
                MessageDialogResult::Custom(label) if label.starts_with("Disconnect") => Some(true),
                MessageDialogResult::Custom(label) if label.starts_with("Keep") => Some(false),
                _ => None,
            };
            let Some(disconnect_first) = choice else { return };
            tauri::async_runtime::spawn(async move {
                quit_now(&app2, disconnect_first).await;
            });
        });
}

/// Quits: disconnecting first, or detaching (the tunnel stays with its last Plan).
pub async fn quit_now(app: &AppHandle, disconnect_first: bool) {
    if disconnect_first {
        if let Err(e) = disconnect(app).await {
            tracing::warn!(title = %e.title, "disconnect before quitting failed");
        }
    } else if let Some(handle) = shared(app).connection.lock().await.take()
        && let Err(error) = handle.stop(StopMode::Detach).await
    {
        tracing::warn!(%error, "detaching");
    }
    app.exit(0);
}
