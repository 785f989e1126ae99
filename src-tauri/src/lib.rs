//! kubewire's window: the Tauri app that shows the cluster network. It is a view of the tray
//! process (`kubewire-tray`), which holds the connection: each command of the contract
//! (`docs/tray-contract.md`) runs there over the link, and the tray's `state` and `log` events come
//! back to the webview. Closing the window ends this process (and its webview); the tray stays.

pub mod commands;
pub mod link;

use anyhow::Context as _;
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};
use tracing_subscriber::EnvFilter;

/// The window's label.
pub const MAIN: &str = "main";

/// Brings the window to the front.
fn focus(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Runs the window until it is closed (or the tray quits).
pub fn run() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!(
            "kubewire-window: kubewire's window\n\nUsage: kubewire-window\n\nShows kubewire's status, nodes, topology, DNS, doctor, logs and settings.\nThe tray app (kubewire-tray) holds the connection; it is started when it is not running.\nClosing the window leaves the tray running."
        );
        return Ok(());
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let path = kubewire_tray::link::path();
    let (link, reader) = tauri::async_runtime::block_on(link::connect(&path))
        .context("kubewire's window needs the tray app")?;
    // The tray's messages are read from now on (the attach reply is one); its events wait in
    // `events` until the webview is there.
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let reading = link.clone();
    tauri::async_runtime::spawn(async move {
        reading
            .read(reader, move |name, payload| {
                let _ = events_tx.send((name, payload));
            })
            .await;
    });
    let attached = tauri::async_runtime::block_on(link.call("attach", serde_json::Value::Null));
    if attached != Ok(serde_json::Value::Bool(true)) {
        // The tray brought its window to the front instead.
        tracing::info!("a kubewire window is already open");
        return Ok(());
    }
    let app = tauri::Builder::default()
        .manage(link)
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
            WebviewWindowBuilder::new(&handle, MAIN, WebviewUrl::App("index.html".into()))
                .title("kubewire")
                .inner_size(1040.0, 720.0)
                .min_inner_size(560.0, 420.0)
                .build()?;
            tracing::info!("window opened");
            tauri::async_runtime::spawn(async move {
                while let Some((name, payload)) = events.recv().await {
                    if name == kubewire_tray::link::FOCUS {
                        focus(&handle);
                    } else if let Err(error) = handle.emit(&name, payload) {
                        tracing::debug!(%error, event = %name, "emitting");
                    }
                }
                tracing::info!("the tray app quit; closing the window");
                handle.exit(0);
            });
            Ok(())
        })
        .build(tauri::generate_context!())?;
    // Closing the window ends the process: the tray keeps the connection.
    app.run(|_, _| {});
    Ok(())
}
