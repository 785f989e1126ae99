//! The desktop's side of the tray tests: a private session bus, a tray host (the
//! StatusNotifierWatcher that tray icons register with) and a notification server, played by the test
//! the way a desktop's tray host plays them. Used by `tests/tray.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failure here is a test failure

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::wait_until;

/// A private `dbus-daemon --session`, killed by PID on drop. Its socket is a path, so processes in
/// the lab's namespaces reach it too.
pub struct Bus {
    pub child: Child,
    pub address: String,
    pub _dir: tempfile::TempDir,
}

impl Bus {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let log = std::fs::File::create(dir.path().join("dbus.log")).unwrap();
        let child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dbus-daemon (cargo xtask setup installs it): {e}"));
        let bus = Bus {
            child,
            address,
            _dir: dir,
        };
        assert!(
            wait_until(Duration::from_secs(10), || socket.exists()),
            "dbus-daemon did not listen"
        );
        bus
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registered StatusNotifierItem: its bus name and object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub service: String,
    pub path: String,
}

/// A `Notify` call.
#[derive(Debug, Clone)]
pub struct Note {
    pub app: String,
    pub summary: String,
    pub body: String,
}

/// What the desktop has been told.
#[derive(Debug, Default)]
pub struct Seen {
    pub items: Mutex<Vec<Item>>,
    pub notes: Mutex<Vec<Note>>,
}

/// `org.kde.StatusNotifierWatcher`, as much of it as a tray host needs.
pub struct Watcher(pub Arc<Seen>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// `service` is a bus name, or (some implementations) an object path on the sender's connection.
    pub async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(ToString::to_string).unwrap_or_default();
        let item = if service.starts_with('/') {
            Item {
                service: sender,
                path: service.to_owned(),
            }
        } else {
            Item {
                service: service.to_owned(),
                path: "/StatusNotifierItem".to_owned(),
            }
        };
        let name = format!("{}{}", item.service, item.path);
        {
            let mut items = self.0.items.lock().unwrap();
            if !items.contains(&item) {
                items.push(item);
            }
        }
        Self::status_notifier_item_registered(&emitter, &name).await?;
        Ok(())
    }

    pub fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    pub fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0
            .items
            .lock()
            .unwrap()
            .iter()
            .map(|i| format!("{}{}", i.service, i.path))
            .collect()
    }

    #[zbus(property)]
    pub fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    pub fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    pub async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;
}

/// `org.freedesktop.Notifications`, recording every notification.
pub struct Notifications {
    pub seen: Arc<Seen>,
    pub next: AtomicU32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    pub fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        self.seen.notes.lock().unwrap().push(Note {
            app: app_name,
            summary,
            body,
        });
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    pub fn close_notification(&self, _id: u32) {}

    pub fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    pub fn get_server_information(&self) -> (String, String, String, String) {
        ("kubewire-e2e".into(), "kubewire".into(), "0".into(), "1.2".into())
    }
}

/// One entry of the tray's dbusmenu, as a host reads it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i32,
    /// The raw label (`_` is the mnemonic marker, `__` a literal `_`).
    pub label: String,
    pub enabled: bool,
    pub visible: bool,
    pub separator: bool,
    /// `toggle-state`: 1 checked, 0 unchecked, -1 not a toggle.
    pub toggle: i32,
}

impl Entry {
    /// The text a host shows for the label: `__` is `_`, a lone `_` marks the next letter.
    pub fn shown(&self) -> String {
        let mut out = String::new();
        let mut chars = self.label.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '_' {
                if chars.peek() == Some(&'_') {
                    chars.next();
                    out.push('_');
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// The item's ToolTip property: (icon name, icon pixmaps, title, description).
pub type ToolTip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);

/// This test as the desktop: the watcher and notification server on the private bus, and a client of
/// the tray's item and menu. Its runtime drives the connection while the test's thread waits.
pub struct Desktop {
    pub rt: tokio::runtime::Runtime,
    pub conn: zbus::Connection,
    pub seen: Arc<Seen>,
}

impl Desktop {
    pub fn start(bus: &Bus) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let conn = rt
            .block_on(async {
                zbus::connection::Builder::address(bus.address.as_str())?
                    .serve_at("/StatusNotifierWatcher", Watcher(seen.clone()))?
                    .serve_at(
                        "/org/freedesktop/Notifications",
                        Notifications {
                            seen: seen.clone(),
                            next: AtomicU32::new(1),
                        },
                    )?
                    .name("org.kde.StatusNotifierWatcher")?
                    .name("org.freedesktop.Notifications")?
                    .build()
                    .await
            })
            .unwrap();
        Desktop { rt, conn, seen }
    }

    pub fn items(&self) -> Vec<Item> {
        self.seen.items.lock().unwrap().clone()
    }

    pub fn notes(&self) -> Vec<Note> {
        self.seen.notes.lock().unwrap().clone()
    }

    pub fn item_property(&self, item: &Item, name: &str) -> zbus::Result<OwnedValue> {
        self.rt.block_on(async {
            let reply = self
                .conn
                .call_method(
                    Some(item.service.as_str()),
                    item.path.as_str(),
                    Some("org.freedesktop.DBus.Properties"),
                    "Get",
                    &("org.kde.StatusNotifierItem", name),
                )
                .await?;
            reply.body().deserialize::<OwnedValue>()
        })
    }

    pub fn tooltip(&self, item: &Item) -> ToolTip {
        ToolTip::try_from(self.item_property(item, "ToolTip").unwrap()).unwrap()
    }

    /// The tooltip's title and description.
    pub fn tooltip_text(&self, item: &Item) -> (String, String) {
        let (_, _, title, description) = self.tooltip(item);
        (title, description)
    }

    /// The icon's pixmaps: (width, height, ARGB32 bytes).
    pub fn icon(&self, item: &Item) -> Vec<(i32, i32, Vec<u8>)> {
        Vec::<(i32, i32, Vec<u8>)>::try_from(self.item_property(item, "IconPixmap").unwrap()).unwrap()
    }

    pub fn menu_path(&self, item: &Item) -> String {
        OwnedObjectPath::try_from(self.item_property(item, "Menu").unwrap())
            .unwrap()
            .as_str()
            .to_owned()
    }

    /// The menu's top-level entries (`GetLayout` from the root).
    pub fn menu(&self, item: &Item) -> Vec<Entry> {
        let path = self.menu_path(item);
        let (_revision, (_root, _props, children)) = self.rt.block_on(async {
            let reply = self
                .conn
                .call_method(
                    Some(item.service.as_str()),
                    path.as_str(),
                    Some("com.canonical.dbusmenu"),
                    "GetLayout",
                    &(0i32, -1i32, Vec::<String>::new()),
                )
                .await
                .unwrap();
            reply
                .body()
                .deserialize::<(u32, (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>))>()
                .unwrap()
        });
        children
            .into_iter()
            .map(|child| {
                let (id, props, _children) =
                    <(i32, HashMap<String, OwnedValue>, Vec<OwnedValue>)>::try_from(child).unwrap();
                let string = |key: &str| match props.get(key).map(|v| &**v) {
                    Some(Value::Str(s)) => Some(s.as_str().to_owned()),
                    _ => None,
                };
                let boolean = |key: &str| match props.get(key).map(|v| &**v) {
                    Some(Value::Bool(b)) => *b,
                    _ => true,
                };
                Entry {
                    id,
                    label: string("label").unwrap_or_default(),
                    enabled: boolean("enabled"),
                    visible: boolean("visible"),
                    separator: string("type").as_deref() == Some("separator"),
                    toggle: match props.get("toggle-state").map(|v| &**v) {
                        Some(Value::I32(n)) => *n,
                        _ => -1,
                    },
                }
            })
            .collect()
    }

    /// The labels a user sees in the menu (visible, non-separator entries).
    pub fn menu_labels(&self, item: &Item) -> Vec<String> {
        self.menu(item)
            .iter()
            .filter(|e| e.visible && !e.separator)
            .map(Entry::shown)
            .collect()
    }

    /// The visible, enabled entry a user sees as `label`.
    pub fn entry(&self, item: &Item, label: &str) -> Entry {
        let menu = self.menu(item);
        menu.iter()
            .find(|e| e.visible && e.shown() == label)
            .cloned()
            .unwrap_or_else(|| panic!("no menu entry {label:?} in {menu:#?}"))
    }

    /// A click on menu entry `id`, as a host sends it.
    pub fn click(&self, item: &Item, id: i32) -> zbus::Result<()> {
        let path = self.menu_path(item);
        let timestamp = u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                % u64::from(u32::MAX),
        )
        .unwrap();
        self.rt.block_on(async {
            self.conn
                .call_method(
                    Some(item.service.as_str()),
                    path.as_str(),
                    Some("com.canonical.dbusmenu"),
                    "Event",
                    &(id, "clicked", Value::from(0i32), timestamp),
                )
                .await
                .map(|_| ())
        })
    }

    /// Clicks the entry a user sees as `label` (asserting it is enabled).
    pub fn click_label(&self, item: &Item, label: &str) {
        let entry = self.entry(item, label);
        assert!(entry.enabled, "{label:?} is greyed out: {entry:?}");
        self.click(item, entry.id)
            .unwrap_or_else(|e| panic!("clicking {label:?}: {e}"));
    }

    /// Whether a bus name has an owner (the tray's item name while it runs).
    pub fn has_owner(&self, name: &str) -> bool {
        self.rt.block_on(async {
            let dbus = zbus::fdo::DBusProxy::new(&self.conn).await.unwrap();
            dbus.name_has_owner(name.try_into().unwrap())
                .await
                .unwrap_or(false)
        })
    }
}
