//! The controller and a daemon that restarts (issue 12, item 2), without a daemon and without root:
//! the daemon's signals come from a channel (as the tray forwards them) or from a fake daemon on a
//! Unix socket (as `follow_daemon` reads them); Plans go to a [`ChannelSink`]. The cluster is the API
//! test server, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kubewire_cluster::controller::StopMode;
use kubewire_cluster::daemon_events::{DaemonSignal, follow_daemon};
use kubewire_cluster::keys::KeyStore;
use kubewire_cluster::registration::Identity;
use kubewire_cluster::{ChannelSink, ConnectOptions, ControllerEvent, connect};
use kubewire_core::Plan;
use kubewire_ipc::Status;
use support::TestServer;
use tokio::sync::mpsc;

fn options(ts: &TestServer, keys: &tempfile::TempDir) -> ConnectOptions {
    let mut o = ConnectOptions::new().unwrap();
    o.kubeconfig = Some(ts.kubeconfig_path.clone());
    o.key_store = KeyStore {
        use_keyring: false,
        dir: keys.path().to_path_buf(),
    };
    o.identity = Identity {
        user: "tester".into(),
        host: "laptop".into(),
    };
    o.replan_every = Duration::from_secs(1);
    o
}

async fn recv_plan(plans: &mut mpsc::UnboundedReceiver<Option<Plan>>, within: Duration) -> Plan {
    tokio::time::timeout(within, plans.recv())
        .await
        .expect("no plan in time")
        .unwrap()
        .expect("a plan, not a disconnect")
}

fn back() -> DaemonSignal {
    DaemonSignal::Back {
        status: Box::new(Status::disconnected()),
    }
}

#[tokio::test]
async fn the_controller_says_the_daemon_is_gone_and_reapplies_its_plan_when_it_is_back() {
    let mut ts = support::start().await;
    ts.add_node("aws", 1);
    let keys = tempfile::tempdir().unwrap();
    let (sink, mut plans) = ChannelSink::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (signals, signals_rx) = mpsc::channel(16);
    let connection = connect(options(&ts, &keys), sink, events_tx, Some(signals_rx))
        .await
        .unwrap();
    let first = recv_plan(&mut plans, Duration::from_secs(1)).await;
    assert_eq!(first, connection.plan);
    let status = connection.controller.status();
    assert!(status.borrow().daemon_reachable());

    // The daemon goes away: the status says so, and changes wait for it.
    signals
        .send(DaemonSignal::Lost {
            message: "the kubewire daemon closed the connection".into(),
        })
        .await
        .unwrap();
    let mut watch = status.clone();
    tokio::time::timeout(Duration::from_secs(1), watch.wait_for(|s| !s.daemon_reachable()))
        .await
        .expect("the status says the daemon is gone")
        .unwrap();
    assert!(
        status
            .borrow()
            .daemon_error
            .as_deref()
            .unwrap()
            .contains("closed")
    );
    ts.add_node("gcp", 2);
    assert!(
        tokio::time::timeout(Duration::from_millis(2500), plans.recv())
            .await
            .is_err(),
        "no plan goes to a daemon that is gone"
    );

    // It is back (a restarted daemon has no tunnel): the Plan in force goes to it at once, then the
    // newer one.
    let t = std::time::Instant::now();
    signals.send(back()).await.unwrap();
    let again = recv_plan(&mut plans, Duration::from_millis(500)).await;
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "re-applied after {:?}",
        t.elapsed()
    );
    assert_eq!(again, first, "the Plan in force is applied again");
    let newer = recv_plan(&mut plans, Duration::from_secs(3)).await;
    assert_eq!(newer.peers.len(), 2, "then the change made meanwhile");
    assert!(status.borrow().daemon_reachable());
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, ControllerEvent::DaemonLost { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ControllerEvent::DaemonBack { .. })),
        "{seen:?}"
    );
    connection.controller.stop(StopMode::Detach).await.unwrap();
    ts.stop().await;
}

#[tokio::test]
async fn the_plan_is_reapplied_even_while_the_api_server_is_away() {
    let mut ts = support::start().await;
    ts.add_node("aws", 1);
    let keys = tempfile::tempdir().unwrap();
    let (sink, mut plans) = ChannelSink::new();
    let (events_tx, _events) = mpsc::unbounded_channel();
    let (signals, signals_rx) = mpsc::channel(16);
    let connection = connect(options(&ts, &keys), sink, events_tx, Some(signals_rx))
        .await
        .unwrap();
    let first = recv_plan(&mut plans, Duration::from_secs(1)).await;
    ts.stop().await;
    let mut status = connection.controller.status();
    tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| !s.reachable))
        .await
        .expect("the API server is seen gone")
        .unwrap();
    signals
        .send(DaemonSignal::Lost {
            message: "gone".into(),
        })
        .await
        .unwrap();
    signals.send(back()).await.unwrap();
    let again = recv_plan(&mut plans, Duration::from_secs(1)).await;
    assert_eq!(
        again, first,
        "the last Plan, although the cluster cannot be asked"
    );
    connection.controller.stop(StopMode::Detach).await.unwrap();
}

/// A daemon on a Unix socket that answers `Subscribe` with `Subscribed` and a status, then holds
/// the connection until `close` fires (its "crash").
#[cfg(unix)]
async fn fake_daemon(
    socket: &std::path::Path,
    close: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    use kubewire_ipc::{Connection, Event, PeerIdentity, Request, Response};
    let _ = std::fs::remove_file(socket);
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (r, w) = stream.into_split();
        let peer = PeerIdentity {
            uid: 0,
            gid: 0,
            pid: None,
            groups: vec![],
        };
        let mut conn = Connection::new(peer, r, w);
        if let Some(Ok(Request::Subscribe)) = conn.recv().await {
            conn.send(&Response::Subscribed).await.unwrap();
            let event = Event::Status {
                status: Box::new(Status::disconnected()),
            };
            conn.send(&Response::Event { event }).await.unwrap();
        }
        let _ = close.await;
        drop(listener);
    })
}

#[cfg(unix)]
#[tokio::test]
async fn follow_daemon_says_lost_when_the_daemon_goes_and_back_when_a_new_one_answers() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("kubewired.sock");
    let (crash, close) = tokio::sync::oneshot::channel();
    let first = fake_daemon(&socket, close).await;
    let mut rx = follow_daemon(&socket).await.unwrap();
    // The first status is statistics (the controller is starting, nothing to restore).
    let signal = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap();
    assert!(matches!(signal, Some(DaemonSignal::Stats(_))), "{signal:?}");

    crash.send(()).unwrap();
    first.await.unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap();
    assert!(matches!(signal, Some(DaemonSignal::Lost { .. })), "{signal:?}");

    // Nothing listens for a moment (a restart), then a new daemon answers.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_keep, close) = tokio::sync::oneshot::channel();
    let t = std::time::Instant::now();
    let _second = fake_daemon(&socket, close).await;
    let signal = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .unwrap();
    assert!(matches!(signal, Some(DaemonSignal::Back { .. })), "{signal:?}");
    assert!(
        t.elapsed() < kubewire_cluster::daemon_events::RECONNECT_MAX + Duration::from_millis(300),
        "back after {:?}",
        t.elapsed()
    );
}
