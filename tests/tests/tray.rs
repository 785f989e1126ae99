#![allow(clippy::unwrap_used)]

//! The tray's icon and menu for real, driven over D-Bus the way a desktop's tray host drives them: a
//! private session bus, this test as the bus's StatusNotifierWatcher (the tray host) and notification
//! server, the real `kubewire-tray --minimized` and `kubewired` in the lab's laptop namespace. The test
//! reads what a user sees (tooltip, icon, menu labels), clicks menu items with dbusmenu `Event`s, and
//! checks the tunnel, the lab's Peer and the tray process. Run by `cargo xtask test` with the lab up
//! (`--ignored --test-threads=1`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubewire_e2e::{IFACE, Laptop, bin, text, wait_until};
use kubewire_lab::testing::{http_get, http_get_within};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// The kubeconfig context the tray is given: the lab's, renamed to carry an `_` (dbusmenu's mnemonic
/// marker, which the tray must escape).
const CONTEXT: &str = "kw_lab-e2e";

// ---------------------------------------------------------------------------------------------
// The desktop's side: a session bus, a tray host (StatusNotifierWatcher), a notification server.

/// A private `dbus-daemon --session`, killed by PID on drop. Its socket is a path, so processes in
/// the lab's namespaces reach it too.
struct Bus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Self {
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
struct Item {
    service: String,
    path: String,
}

/// A `Notify` call.
#[derive(Debug, Clone)]
struct Note {
    app: String,
    summary: String,
    body: String,
}

/// What the desktop has been told.
#[derive(Debug, Default)]
struct Seen {
    items: Mutex<Vec<Item>>,
    notes: Mutex<Vec<Note>>,
}

/// `org.kde.StatusNotifierWatcher`, as much of it as a tray host needs.
struct Watcher(Arc<Seen>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// `service` is a bus name, or (some implementations) an object path on the sender's connection.
    async fn register_status_notifier_item(
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

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0
            .items
            .lock()
            .unwrap()
            .iter()
            .map(|i| format!("{}{}", i.service, i.path))
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(emitter: &SignalEmitter<'_>, service: &str) -> zbus::Result<()>;
}

/// `org.freedesktop.Notifications`, recording every notification.
struct Notifications {
    seen: Arc<Seen>,
    next: AtomicU32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
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

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("kubewire-e2e".into(), "kubewire".into(), "0".into(), "1.2".into())
    }
}

/// One entry of the tray's dbusmenu, as a host reads it.
#[derive(Debug, Clone)]
struct Entry {
    id: i32,
    /// The raw label (`_` is the mnemonic marker, `__` a literal `_`).
    label: String,
    enabled: bool,
    visible: bool,
    separator: bool,
    /// `toggle-state`: 1 checked, 0 unchecked, -1 not a toggle.
    toggle: i32,
}

impl Entry {
    /// The text a host shows for the label: `__` is `_`, a lone `_` marks the next letter.
    fn shown(&self) -> String {
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
type ToolTip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);

/// This test as the desktop: the watcher and notification server on the private bus, and a client of
/// the tray's item and menu. Its runtime drives the connection while the test's thread waits.
struct Desktop {
    rt: tokio::runtime::Runtime,
    conn: zbus::Connection,
    seen: Arc<Seen>,
}

impl Desktop {
    fn start(bus: &Bus) -> Self {
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

    fn items(&self) -> Vec<Item> {
        self.seen.items.lock().unwrap().clone()
    }

    fn notes(&self) -> Vec<Note> {
        self.seen.notes.lock().unwrap().clone()
    }

    fn item_property(&self, item: &Item, name: &str) -> zbus::Result<OwnedValue> {
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

    fn tooltip(&self, item: &Item) -> ToolTip {
        ToolTip::try_from(self.item_property(item, "ToolTip").unwrap()).unwrap()
    }

    /// The tooltip's title and description.
    fn tooltip_text(&self, item: &Item) -> (String, String) {
        let (_, _, title, description) = self.tooltip(item);
        (title, description)
    }

    /// The icon's pixmaps: (width, height, ARGB32 bytes).
    fn icon(&self, item: &Item) -> Vec<(i32, i32, Vec<u8>)> {
        Vec::<(i32, i32, Vec<u8>)>::try_from(self.item_property(item, "IconPixmap").unwrap()).unwrap()
    }

    fn menu_path(&self, item: &Item) -> String {
        OwnedObjectPath::try_from(self.item_property(item, "Menu").unwrap())
            .unwrap()
            .as_str()
            .to_owned()
    }

    /// The menu's top-level entries (`GetLayout` from the root).
    fn menu(&self, item: &Item) -> Vec<Entry> {
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
    fn menu_labels(&self, item: &Item) -> Vec<String> {
        self.menu(item)
            .iter()
            .filter(|e| e.visible && !e.separator)
            .map(Entry::shown)
            .collect()
    }

    /// The visible, enabled entry a user sees as `label`.
    fn entry(&self, item: &Item, label: &str) -> Entry {
        let menu = self.menu(item);
        menu.iter()
            .find(|e| e.visible && e.shown() == label)
            .cloned()
            .unwrap_or_else(|| panic!("no menu entry {label:?} in {menu:#?}"))
    }

    /// A click on menu entry `id`, as a host sends it.
    fn click(&self, item: &Item, id: i32) -> zbus::Result<()> {
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
    fn click_label(&self, item: &Item, label: &str) {
        let entry = self.entry(item, label);
        assert!(entry.enabled, "{label:?} is greyed out: {entry:?}");
        self.click(item, entry.id)
            .unwrap_or_else(|e| panic!("clicking {label:?}: {e}"));
    }

    /// Whether a bus name has an owner (the tray's item name while it runs).
    fn has_owner(&self, name: &str) -> bool {
        self.rt.block_on(async {
            let dbus = zbus::fdo::DBusProxy::new(&self.conn).await.unwrap();
            dbus.name_has_owner(name.try_into().unwrap())
                .await
                .unwrap_or(false)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The tray process.

/// `kubewire-tray --minimized` in the laptop namespace, killed by PID on drop.
struct Tray {
    child: Option<Child>,
    log: PathBuf,
}

impl Tray {
    fn start(env: &[(String, PathBuf)], log: PathBuf) -> Self {
        let child = tray_command(env)
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start kubewire-tray: {e}"));
        Tray {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, if it exits within `within`.
    fn exited_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `ip netns exec <laptop> kubewire-tray --minimized` with `env` (ip execs the tray in place: the
/// child's PID is the tray's).
fn tray_command(env: &[(String, PathBuf)]) -> Command {
    let netns = kubewire_lab::testing::lab().unwrap().laptop_netns;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &netns])
        .arg(bin("kubewire-tray"))
        .arg("--minimized")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Everything one test needs, dropped in order: the tray, the desktop, the bus, then the laptop
/// (disconnect, daemon stopped, kubewire0 and the Peers deleted).
struct Setup {
    tray: Tray,
    desktop: Desktop,
    _bus: Bus,
    laptop: Laptop,
    env: Vec<(String, PathBuf)>,
    link: PathBuf,
}

impl Setup {
    /// The daemon in the laptop namespace, the bus and desktop, and the tray, once its icon is
    /// registered and its link listens.
    fn start() -> (Self, Item) {
        let laptop = Laptop::start();
        let bus = Bus::start();
        let desktop = Desktop::start(&bus);
        let dir = laptop.dir.path().to_path_buf();
        // The lab's kubeconfig with its context renamed to `CONTEXT`.
        let lab_kubeconfig = std::fs::read_to_string(&laptop.lab.kubeconfig).unwrap();
        let old = lab_kubeconfig
            .lines()
            .find_map(|l| l.strip_prefix("current-context:"))
            .map(|c| c.trim().trim_matches('"').to_owned())
            .unwrap();
        let renamed: Vec<String> = lab_kubeconfig
            .lines()
            .map(|l| match l.strip_suffix(&format!(": {old}")) {
                Some(head) => format!("{head}: {CONTEXT}"),
                None => l.to_owned(),
            })
            .collect();
        let renamed = renamed.join("\n") + "\n";
        assert!(
            renamed.contains(&format!("current-context: {CONTEXT}")),
            "{renamed}"
        );
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, renamed).unwrap();

        // Where the tray listens by default ($XDG_RUNTIME_DIR/kubewire, which it makes 0700).
        let link = dir.join("home/run/kubewire/tray.sock");
        let mut env: Vec<(String, PathBuf)> = laptop
            .user_env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.retain(|(k, _)| k != "KUBECONFIG");
        env.extend([
            ("KUBECONFIG".to_owned(), kubeconfig),
            ("KUBEWIRE_SOCKET".to_owned(), laptop.socket()),
            ("KUBEWIRE_TRAY_SOCKET".to_owned(), link.clone()),
            ("DBUS_SESSION_BUS_ADDRESS".to_owned(), PathBuf::from(&bus.address)),
            ("RUST_LOG".to_owned(), PathBuf::from("info")),
        ]);
        for (k, v) in &env {
            if k == "XDG_RUNTIME_DIR" || k == "XDG_CONFIG_HOME" {
                std::fs::create_dir_all(v).unwrap();
            }
        }
        let started = Instant::now();
        let tray = Tray::start(&env, dir.join("tray.log"));
        let mut setup = Setup {
            tray,
            desktop,
            _bus: bus,
            laptop,
            env,
            link,
        };
        let registered = wait_until(Duration::from_secs(20), || {
            !setup.desktop.items().is_empty() && setup.link.exists()
        });
        assert!(
            registered,
            "the tray registered no icon (items {:?}, link {}): running {}\n{}",
            setup.desktop.items(),
            setup.link.exists(),
            setup.tray.running(),
            setup.tray.log()
        );
        eprintln!("tray icon registered after {:?}", started.elapsed());
        let items = setup.desktop.items();
        assert_eq!(items.len(), 1, "one icon: {items:?}");
        let item = items[0].clone();
        (setup, item)
    }

    /// `kubewire ARGS…` in the laptop namespace with the tray's environment (its kubeconfig).
    fn kubewire(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.laptop.lab.laptop_netns])
            .arg(bin("kubewire"))
            .arg("--socket")
            .arg(self.laptop.socket())
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// The lab's Peers that kubewire manages, by name.
    fn peers(&self) -> String {
        self.laptop.kubewire_peers("name").unwrap().trim().to_owned()
    }

    /// The first pod answers from the laptop within `within`.
    fn pod_answers(&self, within: Duration) -> Result<(), String> {
        let node = &self.laptop.lab.nodes[0];
        let body = http_get_within(
            &self.laptop.lab.laptop_netns,
            &format!("http://{}/", node.pod_ip),
            within,
        )?;
        if body == node.pod_name {
            Ok(())
        } else {
            Err(format!("{} answered {body:?}", node.pod_ip))
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- tray log\n{}\n--- daemon log\n{}",
            self.tray.log(),
            self.laptop.daemon_log()
        )
    }

    /// Clicks "Connect to CONTEXT" and waits for what a user sees once connected.
    fn connect_from_the_menu(&self, item: &Item) {
        let started = Instant::now();
        self.desktop.click_label(item, &format!("Connect to {CONTEXT}"));
        self.pod_answers(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("a pod through the tunnel: {e}\n{}", self.logs()));
        eprintln!(
            "connected from the menu: a pod answered after {:?}",
            started.elapsed()
        );
        assert!(self.laptop.interface_exists());
        let connected = wait_until(Duration::from_secs(10), || {
            self.desktop.tooltip_text(item).1.starts_with("connected")
        });
        assert!(
            connected,
            "the tooltip says connected: {:?}\n{}",
            self.desktop.tooltip_text(item),
            self.logs()
        );
    }
}

/// A PNG of `crates/tray/icons` as the ARGB32 (network byte order) pixmap a StatusNotifierItem carries.
fn pixmap(name: &str) -> (i32, i32, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/tray/icons")
        .join(name);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba, "{name}");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{name}");
    buf.truncate(info.buffer_size());
    let argb = buf
        .chunks_exact(4)
        .flat_map(|p| [p[3], p[0], p[1], p[2]])
        .collect();
    (
        i32::try_from(info.width).unwrap(),
        i32::try_from(info.height).unwrap(),
        argb,
    )
}

/// Before connecting: the icon, tooltip and menu of a disconnected tray.
fn assert_disconnected(desktop: &Desktop, item: &Item) {
    let (title, description) = desktop.tooltip_text(item);
    assert!(title.starts_with("kubewire"), "tooltip title {title:?}");
    assert_eq!(description, "disconnected", "tooltip");
    let icon = desktop.icon(item);
    assert_eq!(icon.len(), 1, "one pixmap");
    assert!(
        icon[0] == pixmap("tray-disconnected.png"),
        "the icon is the disconnected one ({}x{})",
        icon[0].0,
        icon[0].1
    );
    let labels = desktop.menu_labels(item);
    for wanted in [
        format!("Connect to {CONTEXT}"),
        "Disconnect".into(),
        "Open kubewire".into(),
        "Quit".into(),
    ] {
        assert!(labels.contains(&wanted), "{wanted:?} in the menu: {labels:?}");
    }
    assert!(
        !labels.iter().any(|l| l.contains("keep the tunnel")),
        "no tunnel, no keep-it choice: {labels:?}"
    );
    let connect = desktop.entry(item, &format!("Connect to {CONTEXT}"));
    assert_eq!(
        connect.label,
        format!("Connect to {}", CONTEXT.replace('_', "__")),
        "the context's `_` is escaped, not a mnemonic"
    );
    assert_eq!(connect.toggle, 1, "the current context is checked");
    assert!(
        !desktop.entry(item, "Disconnect").enabled,
        "Disconnect is greyed out with no tunnel"
    );
}

/// Connected: tooltip, icon, notification and the two quit choices.
fn assert_connected(setup: &Setup, item: &Item) {
    let desktop = &setup.desktop;
    let (title, description) = desktop.tooltip_text(item);
    assert!(
        title.contains(CONTEXT),
        "the tooltip names the context: {title:?}"
    );
    assert!(description.starts_with("connected"), "{description:?}");
    let icon = desktop.icon(item);
    assert_eq!(icon.len(), 1, "one pixmap");
    assert!(
        icon[0] == pixmap("tray-connected.png"),
        "the icon is the connected one"
    );
    assert!(icon[0] != pixmap("tray-disconnected.png"));
    let noted = wait_until(Duration::from_secs(5), || {
        desktop.notes().iter().any(|n| {
            n.app == "kubewire"
                && n.summary == "kubewire connected"
                && n.body == format!("Connected to {CONTEXT}")
        })
    });
    assert!(
        noted,
        "a notification says connected to {CONTEXT}: {:?}",
        desktop.notes()
    );
    let labels = desktop.menu_labels(item);
    assert!(labels.contains(&"Disconnect and quit".to_owned()), "{labels:?}");
    assert!(
        labels.contains(&"Quit, keep the tunnel up".to_owned()),
        "{labels:?}"
    );
    assert!(!labels.contains(&"Quit".to_owned()), "no plain Quit: {labels:?}");
    assert!(desktop.entry(item, "Disconnect").enabled, "Disconnect is offered");
    let peers = setup.peers();
    assert!(!peers.is_empty(), "the laptop's Peer is registered");
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn the_tray_menu_connects_and_disconnect_and_quit_leaves_nothing() {
    let (mut setup, item) = Setup::start();
    let started = Instant::now();
    assert_disconnected(&setup.desktop, &item);
    assert!(setup.peers().is_empty(), "no Peer yet: {}", setup.peers());
    assert!(!setup.laptop.interface_exists());

    // A click on an id the menu does not have is refused and changes nothing.
    let max = setup.desktop.menu(&item).iter().map(|e| e.id).max().unwrap();
    assert!(
        setup.desktop.click(&item, max + 1000).is_err(),
        "an unknown item id is refused"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!setup.laptop.interface_exists(), "nothing happened");

    setup.connect_from_the_menu(&item);
    assert_connected(&setup, &item);
    let key = setup.laptop.exec("wg", &["show", IFACE, "public-key"]).unwrap();
    let peer_keys = setup
        .laptop
        .kubewire_peers("jsonpath={.items[*].spec.publicKey}")
        .unwrap();
    assert_eq!(peer_keys.trim(), key.trim(), "the Peer carries the laptop's key");

    let quit = Instant::now();
    setup.desktop.click_label(&item, "Disconnect and quit");
    let status = setup.tray.exited_within(Duration::from_secs(15));
    eprintln!("Disconnect and quit: the tray exited after {:?}", quit.elapsed());
    let status = status.unwrap_or_else(|| panic!("the tray did not quit\n{}", setup.logs()));
    assert!(status.success(), "the tray exits 0: {status}\n{}", setup.logs());
    assert!(
        quit.elapsed() < Duration::from_secs(10),
        "quitting took {:?}",
        quit.elapsed()
    );
    assert!(
        !setup.laptop.interface_exists(),
        "kubewire0 is gone\n{}",
        setup.logs()
    );
    assert!(setup.laptop.tunnel_routes().is_empty());
    assert!(
        setup.peers().is_empty(),
        "the laptop's Peer is deleted: {}",
        setup.peers()
    );
    assert!(!setup.link.exists(), "the link socket is removed");
    assert!(
        !setup.desktop.has_owner(&item.service),
        "the icon's bus name is released"
    );
    assert!(
        http_get(
            &setup.laptop.lab.laptop_netns,
            &format!("http://{}/", setup.laptop.lab.nodes[0].pod_ip),
            Duration::from_secs(2)
        )
        .is_err(),
        "the cluster is out of reach again"
    );
    eprintln!("test took {:?}\n{}", started.elapsed(), setup.logs());
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn quit_keep_the_tunnel_up_leaves_it_up_and_a_second_tray_defers_to_the_first() {
    let (mut setup, item) = Setup::start();
    let started = Instant::now();

    // A second start while the first runs: "already running", exit 0 at once, no second icon.
    let second_log = setup.laptop.dir.path().join("tray2.log");
    let mut second = Tray::start(&setup.env, second_log);
    let status = second.exited_within(Duration::from_secs(5));
    let said = second.log();
    let status = status.unwrap_or_else(|| panic!("a second tray kept running: {said}"));
    assert!(status.success(), "the second tray exits 0: {status}: {said}");
    assert!(said.contains("already running"), "it says why: {said}");
    assert!(setup.tray.running(), "the first tray still runs");
    assert_eq!(setup.desktop.items().len(), 1, "still one icon");
    assert!(setup.link.exists(), "the first tray's link is still there");

    setup.connect_from_the_menu(&item);
    assert_connected(&setup, &item);

    let quit = Instant::now();
    setup.desktop.click_label(&item, "Quit, keep the tunnel up");
    let status = setup.tray.exited_within(Duration::from_secs(15));
    eprintln!(
        "Quit, keep the tunnel up: the tray exited after {:?}",
        quit.elapsed()
    );
    let status = status.unwrap_or_else(|| panic!("the tray did not quit\n{}", setup.logs()));
    assert!(status.success(), "the tray exits 0: {status}\n{}", setup.logs());
    assert!(!setup.link.exists(), "the link socket is removed");
    assert!(setup.laptop.interface_exists(), "kubewire0 stays up");
    setup
        .pod_answers(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("a pod still answers: {e}\n{}", setup.logs()));
    assert!(!setup.peers().is_empty(), "the Peer stays");

    // The CLI takes it down (and deletes the Peer the session names).
    let out = setup.kubewire(&["disconnect"]);
    assert!(out.status.success(), "disconnect: {}", text(&out));
    assert!(
        !setup.laptop.interface_exists(),
        "kubewire0 is gone: {}",
        text(&out)
    );
    assert!(
        setup.peers().is_empty(),
        "the Peer is deleted: {}: {}",
        setup.peers(),
        text(&out)
    );
    eprintln!("test took {:?}\n{}", started.elapsed(), setup.logs());
}
