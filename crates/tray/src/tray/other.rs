//! The tray on macOS and Windows: the native tray icon (`tray-icon`: a notification-area icon on
//! Windows, an `NSStatusItem` in the menu bar on macOS), driven by a `tao` event loop on the main
//! thread, which both systems require. The app's tasks run on the tokio runtime's workers; they
//! wake the loop through an [`EventLoopProxy`]: what the tray shows changed, or the app quits.
//!
//! Clicks follow each platform: on Windows a left click opens the window and a right click shows
//! the menu; on macOS any click shows the menu (its "Open" item opens the window). On macOS the
//! app has no Dock icon (an accessory app, like every menu-bar item).

use anyhow::Context as _;
use tao::event::{Event, StartCause};
use tao::event_loop::{ControlFlow, EventLoopBuilder, EventLoopProxy};
use tao::platform::run_return::EventLoopExtRunReturn as _;
use tokio::sync::watch;
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

use super::{Icons, Shown, TRAY_ID};
use crate::app::App;
use crate::model::{MenuAction, MenuEntry};
use crate::types::Phase;

/// What wakes the event loop.
#[derive(Debug)]
enum Wake {
    /// What the tray shows changed.
    Shown(Shown),
    /// A menu item was clicked (its id).
    Menu(String),
    /// The icon was left-clicked (Windows): open the window.
    Open,
    /// The app quits.
    Quit,
}

/// Runs the native tray on this (the main) thread until the app quits; the app's tasks run on
/// `runtime`. Without a tray (it cannot be created) the loop still runs until Quit, as on Linux:
/// the window and the CLI still work.
pub fn run(app: App, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let mut event_loop = EventLoopBuilder::<Wake>::with_user_event().build();
    #[cfg(target_os = "macos")]
    {
        use tao::platform::macos::{ActivationPolicy, EventLoopExtMacOS as _};
        event_loop.set_activation_policy(ActivationPolicy::Accessory);
    }
    forward_clicks(&event_loop.create_proxy());
    // Subscribed before the loop reads the first state: no change falls between the two.
    let follow = runtime.spawn(follow(app.tray.subscribe(), event_loop.create_proxy()));
    let quit = runtime.spawn(quit_on_exit(app.exit.subscribe(), event_loop.create_proxy()));

    let mut tray: Option<NativeTray> = None;
    let code = event_loop.run_return(|event, _target, control_flow| {
        *control_flow = ControlFlow::Wait;
        match event {
            // macOS wants the status item created once the loop runs, not before.
            Event::NewEvents(StartCause::Init) => {
                let shown = app.tray.borrow().clone();
                match NativeTray::new(shown) {
                    Ok(t) => {
                        tracing::info!(id = TRAY_ID, "tray icon shown");
                        tray = Some(t);
                    }
                    Err(error) => tracing::error!(
                        error = %format_args!("{error:#}"),
                        "no tray icon; use the window or the CLI"
                    ),
                }
            }
            Event::UserEvent(Wake::Shown(shown)) => {
                if let Some(tray) = &mut tray {
                    tray.show(shown);
                }
            }
            Event::UserEvent(Wake::Menu(id)) => {
                let _runtime = runtime.enter();
                crate::actions::menu(&app, &id);
            }
            Event::UserEvent(Wake::Open) => {
                let _runtime = runtime.enter();
                crate::window::open(&app);
            }
            Event::UserEvent(Wake::Quit) => {
                // The icon goes before the loop ends (on Windows, a live icon left behind stays
                // in the notification area until the mouse passes over it).
                tray = None;
                *control_flow = ControlFlow::Exit;
            }
            Event::LoopDestroyed => tray = None,
            _ => {}
        }
    });
    follow.abort();
    quit.abort();
    if code != 0 {
        tracing::warn!(code, "the tray's event loop ended with an error code");
    }
    Ok(())
}

/// Sends the tray's clicks to the event loop (the handlers run on the loop's thread, inside the
/// native tray's callbacks: the work is done on the loop's next turn). Set once per process.
fn forward_clicks(proxy: &EventLoopProxy<Wake>) {
    let menu = proxy.clone();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        let _ = menu.send_event(Wake::Menu(event.id.0));
    }));
    // Also on macOS, where clicks show the menu and nothing else: with a handler set, the icon's
    // events (mouse moves too) are not queued forever in tray-icon's own channel.
    let icon = proxy.clone();
    TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
        if cfg!(windows)
            && let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
        {
            let _ = icon.send_event(Wake::Open);
        }
    }));
}

/// Wakes the loop with each new state to show, until the loop is gone.
async fn follow(mut shown: watch::Receiver<Shown>, proxy: EventLoopProxy<Wake>) {
    while shown.changed().await.is_ok() {
        let next = shown.borrow_and_update().clone();
        if proxy.send_event(Wake::Shown(next)).is_err() {
            return;
        }
    }
}

/// Wakes the loop to end it when the app quits.
async fn quit_on_exit(mut exit: watch::Receiver<bool>, proxy: EventLoopProxy<Wake>) {
    // An error is the app gone: quit as well.
    let _ = exit.wait_for(|quit| *quit).await;
    if proxy.send_event(Wake::Quit).is_err() {
        tracing::debug!("the tray's event loop already ended");
    }
}

/// The tray icon and what it shows.
struct NativeTray {
    icon: TrayIcon,
    icons: Icons,
    shown: Shown,
}

impl NativeTray {
    /// Creates the icon (on the loop's thread, once it runs).
    fn new(shown: Shown) -> anyhow::Result<Self> {
        let icons = Icons::load().context("decoding the tray icons")?;
        let mut builder = TrayIconBuilder::new()
            .with_id(TRAY_ID)
            .with_icon(icon(&icons, shown.icon)?)
            .with_tooltip(tooltip(&shown.tooltip))
            .with_menu(Box::new(menu(&shown.menu)?));
        // Windows: the left click is the window's, the right click the menu's. macOS: every click
        // shows the menu (tray-icon's default).
        if cfg!(windows) {
            builder = builder.with_menu_on_left_click(false);
        }
        let icon = builder.build().context("creating the tray icon")?;
        Ok(Self { icon, icons, shown })
    }

    /// Shows `next`, changing only what differs.
    fn show(&mut self, next: Shown) {
        if next.icon != self.shown.icon {
            let phase = next.icon;
            let set = icon(&self.icons, phase).and_then(|i| {
                self.icon
                    .set_icon(Some(i))
                    .context("setting the tray icon's image")
            });
            if let Err(error) = set {
                tracing::warn!(error = %format_args!("{error:#}"), ?phase, "tray icon not updated");
            }
        }
        if next.tooltip != self.shown.tooltip
            && let Err(error) = self.icon.set_tooltip(Some(tooltip(&next.tooltip)))
        {
            tracing::warn!(%error, "tray tooltip not updated");
        }
        if next.menu != self.shown.menu {
            match menu(&next.menu) {
                Ok(menu) => self.icon.set_menu(Some(Box::new(menu))),
                Err(error) => {
                    tracing::warn!(error = %format_args!("{error:#}"), "tray menu not updated");
                }
            }
        }
        self.shown = next;
    }
}

/// The native icon of `phase`.
fn icon(icons: &Icons, phase: Phase) -> anyhow::Result<tray_icon::Icon> {
    let rgba = icons
        .get(phase)
        .with_context(|| format!("no tray icon for {phase:?}"))?;
    tray_icon::Icon::from_rgba(rgba.pixels.clone(), rgba.width, rgba.height)
        .with_context(|| format!("the {phase:?} tray icon"))
}

/// The native menu of `entries`; each item's id is its action's id.
fn menu(entries: &[MenuEntry]) -> anyhow::Result<Menu> {
    let menu = Menu::new();
    for entry in entries {
        let id = entry.action.id();
        let text = label(&entry.label);
        let added = match &entry.action {
            MenuAction::Separator => menu.append(&PredefinedMenuItem::separator()),
            MenuAction::Connect(_) => menu.append(&CheckMenuItem::with_id(
                id,
                text,
                entry.enabled,
                entry.checked,
                None,
            )),
            MenuAction::Status => menu.append(&MenuItem::with_id(id, text, false, None)),
            _ => menu.append(&MenuItem::with_id(id, text, entry.enabled, None)),
        };
        added.with_context(|| format!("adding {:?} to the tray menu", entry.label))?;
    }
    Ok(menu)
}

/// Menus read `&` as the mnemonic marker: a context named `dev&test` must stay `dev&test`.
fn label(text: &str) -> String {
    text.replace('&', "&&")
}

/// The tooltip as the platform takes it: Windows keeps 127 UTF-16 units (and tray-icon drops
/// the terminating NUL of a longer one), so a longer tooltip is cut short, on a character.
fn tooltip(text: &str) -> String {
    const MAX_UTF16: usize = 127;
    if !cfg!(windows) || text.encode_utf16().count() <= MAX_UTF16 {
        return text.to_owned();
    }
    let mut units = 0;
    let mut out: String = text
        .chars()
        .take_while(|c| {
            units += c.len_utf16();
            units < MAX_UTF16
        })
        .collect();
    out.push('…');
    out
}
