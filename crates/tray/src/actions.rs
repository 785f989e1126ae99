//! What the user can do, from the tray menu or the window: connect (to a kubeconfig context),
//! disconnect, open the window, quit. The tray's menu handler and the window's commands call these
//! same functions.

use kubewire_cluster::controller::StopMode;
use kubewire_cluster::{ConnectOptions, DaemonSink, kubeconfig, registration};
use kubewire_ipc::{Client, ClientError, ErrorCode, Request, Response};
use tokio::sync::mpsc;

use crate::app::{App, lock, now, publish, update};
use crate::errors::{from_client, from_cluster};
use crate::model::{Connected, MenuAction};
use crate::types::{ContextInfo, ErrorKind, Settings, UiError};
use crate::window;

/// A tray menu item was clicked.
pub fn menu(app: &App, id: &str) {
    let Some(action) = MenuAction::from_id(id) else {
        return;
    };
    tracing::info!(item = id, "tray menu");
    let app = app.clone();
    match action {
        MenuAction::Connect(context) => {
            tokio::spawn(async move {
                let _ = connect(&app, Some(context)).await;
            });
        }
        MenuAction::Disconnect => {
            tokio::spawn(async move {
                let _ = disconnect(&app).await;
            });
        }
        // Connecting again builds a new client, which runs the kubeconfig's login.
        MenuAction::SignIn => {
            tokio::spawn(async move {
                let context = lock(&app.model).state().context.clone();
                let _ = connect(&app, context).await;
            });
        }
        MenuAction::Open => window::open(&app),
        // Quit is offered while no tunnel is up; with one up the menu asks: disconnect or keep it.
        MenuAction::Quit | MenuAction::QuitKeep => {
            tokio::spawn(async move { quit_now(&app, false).await });
        }
        MenuAction::QuitDisconnect => {
            tokio::spawn(async move { quit_now(&app, true).await });
        }
        MenuAction::Status | MenuAction::Separator => {}
    }
}

/// The kubeconfig's contexts (also refreshes the tray menu's list).
pub fn list_contexts(app: &App) -> Result<Vec<ContextInfo>, UiError> {
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
    *lock(&app.contexts) = contexts.clone();
    publish(app, &[]);
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
    o.settings.mtu = settings.mtu;
    if let Some(label) = &settings.topology_label {
        o.settings.topology_label.clone_from(label);
    }
    if let Some(secs) = settings.persistent_keepalive {
        o.settings.persistent_keepalive = secs;
    }
    if let Some(address) = &settings.address {
        o.address = Some(address.parse().map_err(|e| UiError {
            kind: ErrorKind::Other,
            title: "The tunnel address setting is not an address".into(),
            message: format!("{address:?}: {e}"),
            fix: "Correct it in Settings (e.g. 10.4.255.5/32) or leave it empty.".into(),
            command: None,
        })?);
    }
    // The context's remembered `--prefer-tunnel` ranges (set with the CLI).
    o.preferences.store = kubewire_cluster::preferences::default_path();
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
pub async fn connect(app: &App, context: Option<String>) -> Result<(), UiError> {
    if lock(&app.model).is_connecting() {
        return Err(busy());
    }
    let settings = lock(&app.settings).clone();
    // Another context while connected: leave the old cluster first; the same one: take over.
    if let Some(handle) = app.connection.lock().await.take() {
        let current = lock(&app.model).state().context.clone();
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
        *lock(&app.daemon_signals) = None;
        lock(&app.model).stopped_following();
    }
    update(app, |m| {
        m.connect_started(context.clone(), now());
        Vec::new()
    });
    let fail = |app: &App, error: UiError| {
        tracing::warn!(title = %error.title, message = %error.message, "connect failed");
        update(app, |m| m.connect_failed(error.clone(), now()));
        Err(error)
    };
    let options = match options(&settings, context.clone()) {
        Ok(o) => o,
        Err(e) => return fail(app, e),
    };
    let sink = match DaemonSink::connect(app.socket.clone()).await {
        Ok(s) => s,
        Err(e) => return fail(app, from_client(&e)),
    };
    let app2 = app.clone();
    let task = tokio::spawn(async move { run_connect(app2, options, sink).await });
    *lock(&app.connecting) = Some(task.abort_handle());
    Ok(())
}

async fn run_connect(app: App, options: ConnectOptions, sink: DaemonSink) {
    let (signals_tx, signals_rx) = mpsc::channel(16);
    *lock(&app.daemon_signals) = Some(signals_tx);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events_app = app.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            tracing::info!(%event, "controller");
            update(&events_app, |m| m.controller_event(&event, now()));
        }
    });
    let result = kubewire_cluster::connect(options, sink, tx, Some(signals_rx)).await;
    *lock(&app.connecting) = None;
    match result {
        Ok(connection) => {
            tracing::info!(context = %connection.context, peer = %connection.peer_name, "connected");
            let status = connection.controller.status();
            {
                let mut settings = lock(&app.settings);
                if settings.last_context.as_deref() != Some(connection.context.as_str()) {
                    settings.last_context = Some(connection.context.clone());
                    if let Some(path) = &app.settings_path
                        && let Err(error) = crate::settings::save(path, &settings)
                    {
                        tracing::warn!(%error, "saving the last context");
                    }
                }
            }
            *app.connection.lock().await = Some(connection.controller);
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
            tokio::spawn(follow_controller(app.clone(), status));
        }
        Err(error) => {
            *lock(&app.daemon_signals) = None;
            let ui = from_cluster(&error);
            tracing::warn!(%error, "connect failed");
            update(&app, |m| m.connect_failed(ui, now()));
        }
    }
}

/// The controller's status (Plan in force, API reachability) into the model, until it stops.
async fn follow_controller(
    app: App,
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
pub async fn disconnect(app: &App) -> Result<(), UiError> {
    let keep_peer = lock(&app.settings).keep_peer;
    if let Some(abort) = lock(&app.connecting).take() {
        abort.abort();
    }
    let handle = app.connection.lock().await.take();
    *lock(&app.daemon_signals) = None;
    let result = match handle {
        Some(handle) => handle
            .stop(StopMode::Disconnect { keep_peer })
            .await
            .map_err(|e| from_cluster(&e)),
        None => direct_disconnect(app, keep_peer).await,
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
async fn direct_disconnect(shared: &App, keep_peer: bool) -> Result<(), UiError> {
    let mut client = Client::connect(&shared.socket)
        .await
        .map_err(|e| from_client(&e))?;
    let session = match client.request(&Request::Status).await {
        Ok(Response::Status { status }) => status.session,
        _ => None,
    };
    // The connection the status shows (the tray's one), not every connection of the laptop.
    let name = session.as_ref().map(kubewire_ipc::SessionInfo::connection);
    match client.request(&Request::Disconnect { name }).await {
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

/// Quits: disconnecting first, or detaching (the tunnel stays with its last Plan).
pub async fn quit_now(app: &App, disconnect_first: bool) {
    if disconnect_first {
        if let Err(e) = disconnect(app).await {
            tracing::warn!(title = %e.title, "disconnect before quitting failed");
        }
    } else if let Some(handle) = app.connection.lock().await.take()
        && let Err(error) = handle.stop(StopMode::Detach).await
    {
        tracing::warn!(%error, "detaching");
    }
    app.quit();
}

/// What an expose failure looks like in the window.
fn expose_error(e: &kubewire_cluster::exposing::ExposeError) -> UiError {
    use kubewire_cluster::exposing::ExposeError;
    match e {
        ExposeError::Cluster(c) => from_cluster(c),
        other => UiError {
            kind: crate::types::ErrorKind::Refused,
            title: "Nothing was exposed".into(),
            message: other.to_string(),
            fix: "Connect first; `kubewire doctor` explains what keeps a port from the cluster.".into(),
            command: Some("kubewire doctor".into()),
        },
    }
}

/// Exposes a laptop port to the cluster as a Service (the window's form); the warning about the
/// local server, if any.
pub async fn expose(
    app: &App,
    request: &kubewire_cluster::exposing::ExposeRequest,
) -> Result<Option<String>, UiError> {
    let done = kubewire_cluster::exposing::expose(&app.socket, request)
        .await
        .map_err(|e| expose_error(&e))?;
    tracing::info!(service = %format!("{}/{}", request.namespace, request.name), "exposed");
    Ok(done.warning)
}

/// Removes an exposed Service (`namespace/name`) and closes its port.
pub async fn unexpose(app: &App, service: &str) -> Result<(), UiError> {
    let Some((namespace, name)) = service.split_once('/') else {
        return Err(expose_error(&kubewire_cluster::exposing::ExposeError::Refused(
            format!("{service:?} is not namespace/name"),
        )));
    };
    kubewire_cluster::exposing::unexpose(&app.socket, namespace, name, None, None)
        .await
        .map_err(|e| expose_error(&e))?;
    tracing::info!(service, "unexposed");
    Ok(())
}
