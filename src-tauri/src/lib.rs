//! kubewire's tray app: one click to connect, and a window that shows the cluster network.
//!
//! Unprivileged: it runs the same controller as the CLI (`kubewire-cluster`) in-process and talks to
//! `kubewired` over its socket. The state logic is the sans-IO [`model::TrayModel`]; [`actions`] are
//! what the tray menu and the window's [`commands`] do; [`daemon`] follows the daemon's events.
//! The window's interface (commands, events, types) is `docs/tray-contract.md`.

pub mod actions;
pub mod app;
pub mod commands;
pub mod daemon;
pub mod errors;
pub mod logs;
pub mod model;
pub mod notify;
pub mod resolve;
pub mod settings;
pub mod topology;
pub mod tray;
pub mod types;
pub mod window;

use std::sync::Arc;

use tauri::{Emitter, RunEvent};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::app::{Shared, lock};

/// Started at login by autostart: stay in the tray.
pub const MINIMIZED_FLAG: &str = "--minimized";

/// Runs the app until Quit.
pub fn run() -> anyhow::Result<()> {
    let logs = logs::LogBuffer::default();
    let (layer, mut log_rx) = logs::LogLayer::new(logs.clone());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(layer)
        .init();
    let shared = Arc::new(Shared::new(logs));
    let minimized = std::env::args().any(|a| a == MINIMIZED_FLAG);
    let app = tauri::Builder::default()
        // First: a second start only opens the first one's window.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::open(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED_FLAG]),
        ))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(shared)
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::list_contexts,
            commands::connect,
            commands::disconnect,
            commands::run_doctor,
            commands::resolve_name,
            commands::get_settings,
            commands::set_settings,
            commands::get_logs,
        ])
        .setup(move |tauri_app| {
            let handle = tauri_app.handle().clone();
            let shared = app::shared(&handle);
            if let Err(error) = actions::list_contexts(&handle) {
                tracing::warn!(title = %error.title, message = %error.message, "no kubeconfig contexts");
            }
            let shown = {
                let model = lock(&shared.model);
                tray::Shown::of(&model, &lock(&shared.contexts))
            };
            tray::build(&handle, &shown)?;
            *lock(&shared.tray_shown) = Some(shown);
            let log_app = handle.clone();
            tauri::async_runtime::spawn(async move {
                while let Some(entry) = log_rx.recv().await {
                    let _ = log_app.emit("log", &entry);
                }
            });
            tauri::async_runtime::spawn(daemon::follow(handle.clone()));
            let settings = lock(&shared.settings).clone();
            if settings.auto_connect
                && let Some(context) = settings.last_context
            {
                let app = handle.clone();
                tauri::async_runtime::spawn(async move {
                    // Let the daemon follower report first: an unreachable daemon is the first error.
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    tracing::info!(%context, "auto-connect");
                    let _ = actions::connect(&app, Some(context)).await;
                });
            }
            if !minimized {
                window::open(&handle);
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_app, event| {
        if let RunEvent::ExitRequested { code: None, api, .. } = event {
            // The last window closed: the tray stays.
            api.prevent_exit();
            tracing::info!("window closed; the app stays in the tray");
        }
    });
    Ok(())
}
