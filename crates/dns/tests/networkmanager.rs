//! NetworkManager mode over a real D-Bus (a private `dbus-daemon`) against a stand-in
//! NetworkManager (this file: the manager, one device, the DNS manager), without root: what goes
//! over the bus, the choice at run time, and the revert. `networkmanager_e2e.rs` runs a real
//! NetworkManager. `dnsd` runs on loopback only and finds the bus through
//! `DBUS_SYSTEM_BUS_ADDRESS`, so this machine's own bus is never asked.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

type Settings = HashMap<String, HashMap<String, OwnedValue>>;

const DEVICE_PATH: &str = "/org/freedesktop/NetworkManager/Devices/7";
const VERSION: u64 = 41;

struct Manager;

#[zbus::interface(name = "org.freedesktop.NetworkManager")]
impl Manager {
    fn get_device_by_ip_iface(&self, iface: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        if iface == "wg0" {
            Ok(OwnedObjectPath::try_from(DEVICE_PATH).unwrap())
        } else {
            Err(zbus::fdo::Error::Failed(format!("No device found for {iface}")))
        }
    }
}

/// Every `Reapply`: the settings and the version it was given.
type Reapplied = Arc<Mutex<Vec<(Settings, u64)>>>;

struct Device {
    reapplied: Reapplied,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager.Device")]
impl Device {
    fn get_applied_connection(&self, _flags: u32) -> (Settings, u64) {
        let mut ipv4 = HashMap::new();
        ipv4.insert(
            "method".to_owned(),
            OwnedValue::try_from(Value::from("manual")).unwrap(),
        );
        let addresses = Value::from(vec![vec![u32::from_ne_bytes([10, 4, 0, 99]), 32, 0]]);
        ipv4.insert("addresses".to_owned(), OwnedValue::try_from(addresses).unwrap());
        let mut connection = HashMap::new();
        connection.insert("id".to_owned(), OwnedValue::try_from(Value::from("wg0")).unwrap());
        let applied = self.reapplied.lock().unwrap().last().map(|(s, _)| {
            s.iter()
                .map(|(k, g)| {
                    (
                        k.clone(),
                        g.iter()
                            .map(|(n, v)| (n.clone(), v.try_clone().unwrap()))
                            .collect(),
                    )
                })
                .collect()
        });
        let settings = applied
            .unwrap_or_else(|| Settings::from([("ipv4".into(), ipv4), ("connection".into(), connection)]));
        (settings, VERSION)
    }

    fn reapply(&self, connection: Settings, version_id: u64, flags: u32) -> zbus::fdo::Result<()> {
        // preserve-external-ip: without it NetworkManager removes the tunnel's routes (seen with a
        // real NetworkManager 1.42.4, tests/networkmanager/e2e.sh).
        if flags != 1 {
            return Err(zbus::fdo::Error::InvalidArgs(format!(
                "flags {flags}: the tunnel's routes would go"
            )));
        }
        self.reapplied.lock().unwrap().push((connection, version_id));
        Ok(())
    }
}

struct DnsManager {
    mode: String,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager.DnsManager")]
impl DnsManager {
    #[zbus(property)]
    fn mode(&self) -> String {
        self.mode.clone()
    }
}

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_type="*"/>
  </policy>
</busconfig>
"#;

/// A private bus, killed on drop.
struct Bus {
    child: std::process::Child,
    address: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bus(dir: &Path) -> Option<Bus> {
    let has = std::process::Command::new("sh")
        .args(["-c", "command -v dbus-daemon"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        common::strict_skip("needs dbus-daemon");
        eprintln!("skipped: needs dbus-daemon");
        return None;
    }
    let socket = dir.join("bus");
    let conf = dir.join("bus.conf");
    std::fs::write(&conf, BUS_CONF.replace("BUS", &socket.display().to_string())).unwrap();
    let child = std::process::Command::new("dbus-daemon")
        .arg(format!("--config-file={}", conf.display()))
        .args(["--nofork", "--nopidfile"])
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Bus {
        child,
        address: format!("unix:path={}", socket.display()),
    })
}

/// The stand-in NetworkManager on `bus`, with DNS mode `mode`.
async fn network_manager(bus: &Bus, mode: &str) -> (zbus::Connection, Reapplied) {
    let reapplied = Reapplied::default();
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.NetworkManager")
        .unwrap()
        .serve_at("/org/freedesktop/NetworkManager", Manager)
        .unwrap()
        .serve_at(
            DEVICE_PATH,
            Device {
                reapplied: reapplied.clone(),
            },
        )
        .unwrap()
        .serve_at(
            "/org/freedesktop/NetworkManager/DnsManager",
            DnsManager { mode: mode.into() },
        )
        .unwrap()
        .build()
        .await
        .unwrap();
    (conn, reapplied)
}

/// `dnsd run --backend auto` on loopback with `bus` as the system bus; returns it once ready.
async fn dnsd(bus: &Bus, dir: &Path) -> tokio::process::Child {
    std::fs::write(dir.join("resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let mut child = tokio::process::Command::new(common::Lab::dnsd())
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .args([
            "run",
            "--backend",
            "auto",
            "--interface",
            "wg0",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--cluster-dns", "127.0.0.1:9", "--route", "10.42.0.0/16"])
        .arg("--resolv-conf")
        .arg(dir.join("resolv.conf"))
        .arg("--backup")
        .arg(dir.join("resolv.backup"))
        .arg("--state")
        .arg(dir.join("state.json"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap_or_default();
    assert!(line.starts_with("ready 127.0.0.1:"), "{line:?}");
    child
}

fn get<T: TryFrom<OwnedValue>>(s: &Settings, family: &str, key: &str) -> Option<T> {
    s.get(family)?.get(key)?.try_clone().ok()?.try_into().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networkmanager_is_chosen_and_given_the_cluster_routing_domains_then_reverted() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bus) = bus(dir.path()) else { return };
    let (_nm, reapplied) = network_manager(&bus, "dnsmasq").await;
    let mut child = dnsd(&bus, dir.path()).await;

    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(
        state.contains("\"networkmanager\""),
        "chosen at run time: {state}"
    );
    let (settings, version) = {
        let calls = reapplied.lock().unwrap();
        assert_eq!(calls.len(), 1, "one Reapply");
        let (s, v) = &calls[0];
        (
            s.iter()
                .map(|(k, g)| {
                    (
                        k.clone(),
                        g.iter()
                            .map(|(n, v)| (n.clone(), v.try_clone().unwrap()))
                            .collect(),
                    )
                })
                .collect::<Settings>(),
            *v,
        )
    };
    assert_eq!(version, VERSION, "Reapply names the version it read");
    let dns: Vec<u32> = get(&settings, "ipv4", "dns").unwrap();
    assert_eq!(dns, [u32::from_ne_bytes([127, 0, 0, 1])]);
    let search: Vec<String> = get(&settings, "ipv4", "dns-search").unwrap();
    assert_eq!(
        search,
        [
            "default.svc.cluster.local",
            "svc.cluster.local",
            "~cluster.local",
            "~42.10.in-addr.arpa"
        ]
    );
    assert_eq!(get::<i32>(&settings, "ipv4", "dns-priority"), Some(200));
    assert_eq!(
        get::<String>(&settings, "ipv4", "method").as_deref(),
        Some("manual")
    );
    assert!(
        !settings["ipv4"].contains_key("addresses"),
        "NetworkManager refuses it in Reapply"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.1\n",
        "resolv.conf is NetworkManager's business"
    );

    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap();
    let calls = reapplied.lock().unwrap();
    assert_eq!(calls.len(), 2, "disconnect reapplies once more");
    let (reverted, _) = &calls[1];
    for key in ["dns", "dns-search", "dns-priority"] {
        assert!(!reverted["ipv4"].contains_key(key), "{key} left behind");
    }
    assert_eq!(
        get::<String>(reverted, "ipv4", "method").as_deref(),
        Some("manual")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networkmanager_writing_resolv_conf_itself_is_left_to_the_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bus) = bus(dir.path()) else { return };
    let (_nm, reapplied) = network_manager(&bus, "default").await;
    let mut child = dnsd(&bus, dir.path()).await;
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(state.contains("\"resolv-conf\""), "{state}");
    assert!(reapplied.lock().unwrap().is_empty(), "NetworkManager not touched");
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.1\n"
    );
}
