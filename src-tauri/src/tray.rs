//! The tray icon: built once, then its icon, tooltip and menu follow the [`TrayModel`] (only what
//! changed is replaced). Menu clicks go to [`crate::actions::menu`], the same functions the window's
//! commands and the tests use.

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Wry};

use crate::app::{Shared, lock};
use crate::model::{MenuAction, MenuEntry, TrayModel};
use crate::types::{ContextInfo, Phase};

const TRAY_ID: &str = "kubewire";

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub icon: Phase,
    pub tooltip: String,
    pub menu: Vec<MenuEntry>,
}

impl Shown {
    /// What `model` wants shown.
    #[must_use]
    pub fn of(model: &TrayModel, contexts: &[ContextInfo]) -> Self {
        Self {
            icon: model.icon(),
            tooltip: model.tooltip(),
            menu: model.menu(contexts),
        }
    }
}

/// The PNG of a tray state.
fn icon(phase: Phase) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match phase {
        Phase::Disconnected => include_bytes!("../icons/tray-disconnected.png"),
        Phase::Connecting => include_bytes!("../icons/tray-connecting.png"),
        Phase::Connected => include_bytes!("../icons/tray-connected.png"),
        Phase::Degraded => include_bytes!("../icons/tray-degraded.png"),
        Phase::Error => include_bytes!("../icons/tray-error.png"),
    };
    Image::from_bytes(bytes)
}

fn menu(app: &AppHandle, entries: &[MenuEntry]) -> tauri::Result<Menu<Wry>> {
    let mut items: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match &e.action {
            MenuAction::Separator => items.push(Box::new(PredefinedMenuItem::separator(app)?)),
            MenuAction::Connect(_) => items.push(Box::new(CheckMenuItem::with_id(
                app,
                e.action.id(),
                &e.label,
                e.enabled,
                e.checked,
                None::<&str>,
            )?)),
            MenuAction::Status => items.push(Box::new(MenuItem::with_id(
                app,
                format!("status-{i}"),
                &e.label,
                false,
                None::<&str>,
            )?)),
            _ => items.push(Box::new(MenuItem::with_id(
                app,
                e.action.id(),
                &e.label,
                e.enabled,
                None::<&str>,
            )?)),
        }
    }
    let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(AsRef::as_ref).collect();
    Menu::with_items(app, &refs)
}

/// Creates the tray icon.
pub fn build(app: &AppHandle, shown: &Shown) -> tauri::Result<TrayIcon> {
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(shown.icon)?)
        .tooltip(&shown.tooltip)
        .menu(&menu(app, &shown.menu)?)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| crate::actions::menu(app, event.id().as_ref()))
        .build(app)
}

/// Brings the tray up to date with `shown`.
pub fn show(app: &AppHandle, shared: &Shared, shown: Shown) {
    let mut last = lock(&shared.tray_shown);
    if last.as_ref() == Some(&shown) {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        *last = Some(shown);
        return;
    };
    let before = last.take();
    let result = (|| -> tauri::Result<()> {
        if before.as_ref().is_none_or(|b| b.icon != shown.icon) {
            tray.set_icon(Some(icon(shown.icon)?))?;
        }
        if before.as_ref().is_none_or(|b| b.tooltip != shown.tooltip) {
            tray.set_tooltip(Some(&shown.tooltip))?;
        }
        if before.as_ref().is_none_or(|b| b.menu != shown.menu) {
            tray.set_menu(Some(menu(app, &shown.menu)?))?;
        }
        Ok(())
    })();
    if let Err(error) = result {
        tracing::warn!(%error, "updating the tray icon");
    }
    *last = Some(shown);
}
