//! kubewire's tray: the icon and its menu, the connection and the state the window shows.
//!
//! Unprivileged: it runs the same controller as the CLI (`kubewire-cluster`) in-process and talks to
//! `kubewired` over its socket. It holds no webview: the window is a separate process,
//! `kubewire-window`, started when the user opens it and gone when they close it; the two talk over
//! the [`link`]. The state logic is the sans-IO [`model::TrayModel`]; [`actions`] are what the tray
//! menu and the window's [`commands`] do; [`daemon`] follows the daemon's events. The window's
//! interface (commands, events, types) is `docs/tray-contract.md`.

pub mod actions;
pub mod app;
pub mod autostart;
pub mod bug_report;
pub mod commands;
pub mod daemon;
pub mod errors;
pub mod link;
pub mod logs;
pub mod model;
pub mod notify;
mod platform;
pub mod resolve;
pub mod settings;
pub mod sibling;
pub mod topology;
pub mod tray;
pub mod types;
pub mod window;

use std::time::Duration;

use anyhow::Context as _;
use kubewire_ipc::framing;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::app::{App, Shared, lock};
pub use crate::autostart::MINIMIZED_FLAG;
use crate::link::{LinkMessage, LinkRequest};

const HELP: &str = "\
kubewire-tray: kubewire in the system tray

Usage: kubewire-tray [--minimized]

Shows the kubewire icon in the tray: its menu connects to a kubeconfig context, disconnects, opens
the window (kubewire-window) and quits. The tunnel itself is kept by the kubewire service
(kubewired); this app runs as you, with your kubeconfig, and needs no sudo.

Options:
  --minimized   stay in the tray, no window (how start-at-login runs it)
  -h, --help    this text
  -V, --version the version

A second start brings the running one's window to the front.
Environment: KUBECONFIG (the kubeconfig), KUBEWIRE_SOCKET (the service's socket),
KUBEWIRE_TRAY_SOCKET (where the window reaches this app), RUST_LOG (log detail, e.g. debug).";

/// Runs the app until Quit.
pub fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return Ok(());
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("kubewire-tray {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Some(unknown) = args.iter().find(|a| *a != MINIMIZED_FLAG) {
        anyhow::bail!("unknown argument {unknown:?}; see kubewire-tray --help");
    }
    let minimized = !args.is_empty();
    let logs = logs::LogBuffer::default();
    let (layer, log_rx) = logs::LogLayer::new(logs.clone());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(layer)
        .init();
    let runtime = platform::runtime()?;
    let path = link::path();
    if runtime.block_on(hand_over(&path, minimized)) {
        return Ok(());
    }
    let _entered = runtime.enter();
    let listener = link::Listener::bind(&path)
        .with_context(|| format!("cannot listen for the window at {}", path.display()))?;
    let app = Shared::new(logs);
    runtime.block_on(start(&app, listener, log_rx, minimized));
    platform::run_tray(&app, &runtime)?;
    runtime.block_on(async {
        if let Some(handle) = app.connection.lock().await.take()
            && let Err(error) = handle.stop(kubewire_cluster::controller::StopMode::Detach).await
        {
            tracing::warn!(%error, "detaching");
        }
    });
    link::remove(&path);
    tracing::info!("quit");
    Ok(())
}

/// Another kubewire-tray already runs: ask it to show its window. `true` when it answered.
async fn hand_over(path: &std::path::Path, minimized: bool) -> bool {
    let Ok(Ok((mut r, mut w))) = tokio::time::timeout(Duration::from_secs(2), link::connect(path)).await
    else {
        return false;
    };
    if minimized {
        eprintln!("kubewire-tray is already running");
        return true;
    }
    let request = LinkRequest {
        id: 1,
        cmd: "open_window".into(),
        args: serde_json::Value::Null,
    };
    if framing::write(&mut w, &request).await.is_err() {
        return false;
    }
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match framing::read::<_, LinkMessage>(&mut r).await {
                Ok(Some(LinkMessage::Reply { id: 1, .. })) => return true,
                Ok(Some(_)) => {}
                _ => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    if answered {
        eprintln!("kubewire-tray is already running: its window is shown");
    }
    answered
}

/// Starts the app's tasks: the link, the daemon follower, logs to the window, auto-connect.
async fn start(
    app: &App,
    listener: link::Listener,
    mut log_rx: tokio::sync::mpsc::UnboundedReceiver<types::LogEntry>,
    minimized: bool,
) {
    tokio::spawn(link::server::serve(app.clone(), listener));
    let log_app = app.clone();
    tokio::spawn(async move {
        while let Some(entry) = log_rx.recv().await {
            log_app.emit("log", &entry);
        }
    });
    if let Err(error) = actions::list_contexts(app) {
        tracing::warn!(title = %error.title, message = %error.message, "no kubeconfig contexts");
    }
    tokio::spawn(daemon::follow(app.clone()));
    let settings = lock(&app.settings).clone();
    if settings.auto_connect
        && let Some(context) = settings.last_context
    {
        let app = app.clone();
        tokio::spawn(async move {
            // Let the daemon follower report first: an unreachable daemon is the first error.
            tokio::time::sleep(Duration::from_millis(300)).await;
            tracing::info!(%context, "auto-connect");
            let _ = actions::connect(&app, Some(context)).await;
        });
    }
    tokio::spawn(quit_on_signal(app.clone()));
    if !minimized {
        window::open(app);
    }
}

/// Waits until the app quits.
pub async fn until_quit(app: &App) {
    let mut exit = app.exit.subscribe();
    let _ = exit.wait_for(|quit| *quit).await;
}

/// SIGTERM or SIGINT (logout, `kill`, Ctrl-C): quit, leaving the tunnel up (as "Quit, keep").
async fn quit_on_signal(app: App) {
    if !platform::quit_requested().await {
        return;
    }
    tracing::info!("signal: quitting");
    app.quit();
}
