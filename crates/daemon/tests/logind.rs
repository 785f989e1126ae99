//! logind's word that the machine slept: `PrepareForSleep(true)` then `PrepareForSleep(false)` on the
//! system bus makes kubewired start every handshake over and say so in `status`, as a resume the
//! clocks tell does. A real `dbus-daemon` stands in for the system bus (`DBUS_SYSTEM_BUS_ADDRESS`)
//! and this test owns `org.freedesktop.login1` on it; the daemon is the real one, with a session
//! in the namespaces of `daemon_e2e.rs`. Root only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, can_run, wait_for};
use kubewire_ipc::Response;

/// A private bus, ended by PID when the test ends (also on failure).
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start(dir: &std::path::Path) -> Self {
        let path = dir.join("system_bus_socket");
        let address = format!("unix:path={}", path.display());
        let child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (apt install dbus)");
        wait_for(Duration::from_secs(10), || path.exists()).expect("the bus did not start");
        Self { child, address }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The part of logind the daemon listens to: its name and the `PrepareForSleep` signal.
struct Login1;

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Login1 {
    #[zbus(signal)]
    async fn prepare_for_sleep(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        start: bool,
    ) -> zbus::Result<()>;
}

async fn logind(address: &str) -> zbus::Connection {
    zbus::connection::Builder::address(address)
        .unwrap()
        .name("org.freedesktop.login1")
        .unwrap()
        .serve_at("/org/freedesktop/login1", Login1)
        .unwrap()
        .build()
        .await
        .unwrap()
}

fn resumed_by_logind(status: &kubewire_ipc::Status) -> bool {
    status
        .network_event
        .as_ref()
        .is_some_and(|e| e.changes.iter().any(|c| c.starts_with("resumed after")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_that_logind_announces_starts_the_handshakes_over_and_is_shown() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(1);
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::start(dir.path());
    let login1 = logind(&bus.address).await;
    lab.daemon_env
        .push(("DBUS_SYSTEM_BUS_ADDRESS".into(), bus.address.clone()));
    lab.start_daemon();
    let mut client = lab.client().await;
    match client.request(&lab.apply_request(lab.plan(&[(0, None)]))).await {
        Ok(Response::Applied { .. }) => {}
        other => panic!("apply: {other:?}\n{}", lab.log()),
    }
    assert!(!resumed_by_logind(&lab.status().await), "no resume yet");

    // The daemon subscribes as it starts: announce sleep and wake until it has heard (a few
    // tries at most), then the status tells it.
    let emitter = zbus::object_server::SignalEmitter::new(&login1, "/org/freedesktop/login1").unwrap();
    let started = Instant::now();
    let mut heard = false;
    while started.elapsed() < Duration::from_secs(10) {
        Login1::prepare_for_sleep(&emitter, true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        Login1::prepare_for_sleep(&emitter, false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if resumed_by_logind(&lab.status().await) {
            heard = true;
            break;
        }
    }
    let status = lab.status().await;
    assert!(
        heard,
        "logind's PrepareForSleep(false) was not taken as a resume: {:?}\n{}",
        status.network_event,
        lab.log()
    );
    let event = status.network_event.unwrap();
    assert!(
        event
            .actions
            .iter()
            .any(|a| a.contains("handshakes started again")),
        "{event:?}"
    );
    assert!(
        lab.log().contains("logind: resumed"),
        "the daemon's log names logind as the source:\n{}",
        lab.log()
    );
    drop(login1);
    drop(bus);
}
