//! The tray on Linux: a StatusNotifierItem with a D-Bus menu (`ksni`), shown by every desktop with a
//! tray (KDE, GNOME with the AppIndicator extension, XFCE, sway's bars...). No GTK in this process.
//! Without a session bus there is no tray; the app still runs (the window and auto-connect work).

use ksni::menu::{CheckmarkItem, MenuItem, StandardItem};
use ksni::{Icon, ToolTip, TrayMethods};

use super::{Icons, Shown, TRAY_ID};
use crate::actions;
use crate::app::App;
use crate::model::MenuAction;

struct Tray {
    app: App,
    icons: Icons,
    shown: Shown,
}

/// D-Bus menus read `_` as the mnemonic marker: a context named `dev_eu` must stay `dev_eu`.
fn label(text: &str) -> String {
    text.replace('_', "__")
}

impl ksni::Tray for Tray {
    fn id(&self) -> String {
        TRAY_ID.into()
    }

    fn title(&self) -> String {
        "kubewire".into()
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        self.icons
            .get(self.shown.icon)
            .map(|rgba| {
                // StatusNotifierItem pixmaps are ARGB32 in network byte order.
                let data = rgba
                    .pixels
                    .chunks_exact(4)
                    .flat_map(|p| [p[3], p[0], p[1], p[2]])
                    .collect();
                vec![Icon {
                    width: i32::try_from(rgba.width).unwrap_or(0),
                    height: i32::try_from(rgba.height).unwrap_or(0),
                    data,
                }]
            })
            .unwrap_or_default()
    }

    fn tool_tip(&self) -> ToolTip {
        let mut lines = self.shown.tooltip.splitn(2, '\n');
        ToolTip {
            title: lines.next().unwrap_or_default().to_owned(),
            description: lines.next().unwrap_or_default().to_owned(),
            ..ToolTip::default()
        }
    }

    /// A left click opens the window.
    fn activate(&mut self, _x: i32, _y: i32) {
        crate::window::open(&self.app);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        self.shown
            .menu
            .iter()
            .map(|entry| {
                let id = entry.action.id();
                let activate = Box::new(move |tray: &mut Self| actions::menu(&tray.app, &id));
                match &entry.action {
                    MenuAction::Separator => MenuItem::Separator,
                    MenuAction::Connect(_) => CheckmarkItem {
                        label: label(&entry.label),
                        enabled: entry.enabled,
                        checked: entry.checked,
                        activate,
                        ..CheckmarkItem::default()
                    }
                    .into(),
                    _ => StandardItem {
                        label: label(&entry.label),
                        enabled: entry.enabled,
                        activate,
                        ..StandardItem::default()
                    }
                    .into(),
                }
            })
            .collect()
    }
}

/// Runs the tray until the app quits (the caller's runtime drives it).
pub async fn run(app: App) {
    let icons = match Icons::load() {
        Ok(i) => i,
        Err(error) => {
            tracing::error!(%error, "no tray icon");
            return;
        }
    };
    let mut shown_rx = app.tray.subscribe();
    let shown = shown_rx.borrow_and_update().clone();
    let tray = Tray {
        app: app.clone(),
        icons,
        shown,
    };
    // A tray host that appears later (the desktop still starting) still gets the item.
    let handle = match tray.assume_sni_available(true).spawn().await {
        Ok(h) => h,
        Err(error) => {
            tracing::warn!(%error, "no tray icon: no D-Bus session; use the window or the CLI");
            return;
        }
    };
    tracing::info!("tray icon registered");
    while shown_rx.changed().await.is_ok() {
        let shown = shown_rx.borrow_and_update().clone();
        if handle.update(move |t| t.shown = shown).await.is_none() {
            tracing::warn!("the tray icon's service stopped");
            return;
        }
    }
}
