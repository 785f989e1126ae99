//! The connection controller against the lab's API server: connect step by step, follow changes,
//! debounce, ignore last-seen refreshes, survive both 410 forms and an API server outage.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use kubewire_apiserver::ExpiredMode;
use kubewire_cluster::controller::StopMode;
use kubewire_cluster::daemon_events::DaemonSignal;
use kubewire_cluster::keys::KeyStore;
use kubewire_cluster::registration::Identity;
use kubewire_cluster::{ChannelSink, ConnectOptions, ControllerEvent, Step, connect};
use kubewire_core::Plan;
use kubewire_core::plan::PeerKind;
use support::{TestServer, WAIT};
use tokio::sync::mpsc::UnboundedReceiver;

struct Harness {
    ts: TestServer,
    connection: kubewire_cluster::connect::Connection,
    plans: UnboundedReceiver<Option<Plan>>,
    events: UnboundedReceiver<ControllerEvent>,
    _keys: tempfile::TempDir,
}

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

async fn start(nodes: &[(&str, u8)]) -> Harness {
    let ts = support::start().await;
    for (name, n) in nodes {
        ts.add_node(name, *n);
    }
    let keys = tempfile::tempdir().unwrap();
    let (sink, mut plans) = ChannelSink::new();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let connection = connect(options(&ts, &keys), sink, tx, None).await.unwrap();
    // The first Plan went out during connect.
    let first = plans.recv().await.unwrap().unwrap();
    assert_eq!(first, connection.plan);
    let mut steps = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let ControllerEvent::Step { step, .. } = e {
            steps.push(step);
        }
    }
    assert_eq!(
        steps,
        [
            Step::Kubeconfig,
            Step::ApiReachable,
            Step::KiloPresent,
            Step::Key,
            Step::PeerRegistered,
            Step::Planned,
            Step::Applied
        ]
    );
    Harness {
        ts,
        connection,
        plans,
        events,
        _keys: keys,
    }
}

fn segments(plan: &Plan) -> Vec<String> {
    plan.peers
        .iter()
        .filter_map(|p| match &p.kind {
            PeerKind::Segment { leader, .. } => Some(leader.clone()),
            PeerKind::KiloPeer => None,
        })
        .collect()
}

async fn next_plan(h: &mut Harness, within: Duration) -> Plan {
    tokio::time::timeout(within, h.plans.recv())
        .await
        .expect("no new plan in time")
        .unwrap()
        .expect("a plan, not a disconnect")
}

async fn plan_where(h: &mut Harness, within: Duration, f: impl Fn(&Plan) -> bool) -> Plan {
    tokio::time::timeout(within, async {
        loop {
            let plan = h.plans.recv().await.unwrap().expect("a plan");
            if f(&plan) {
                return plan;
            }
        }
    })
    .await
    .expect("no matching plan in time")
}

async fn event_where(
    h: &mut Harness,
    within: Duration,
    f: impl Fn(&ControllerEvent) -> bool,
) -> ControllerEvent {
    tokio::time::timeout(within, async {
        loop {
            let e = h.events.recv().await.unwrap();
            if f(&e) {
                return e;
            }
        }
    })
    .await
    .expect("no matching event in time")
}

async fn no_plan_for(h: &mut Harness, quiet: Duration) {
    if let Ok(Some(plan)) = tokio::time::timeout(quiet, h.plans.recv()).await {
        panic!("unexpected new plan: {plan:?}");
    }
}

#[tokio::test]
async fn connect_registers_the_peer_and_disconnect_removes_it() {
    let h = start(&[("aws", 1), ("gcp", 2)]).await;
    let plan = &h.connection.plan;
    assert_eq!(segments(plan), ["aws", "gcp"]);
    assert_eq!(h.connection.peer_name, "kubewire-tester-laptop");
    let peer = h.ts.peer("kubewire-tester-laptop").unwrap();
    assert_eq!(peer["spec"]["publicKey"], plan.interface.public_key.to_string());
    assert_eq!(
        peer["spec"]["allowedIPs"],
        serde_json::json!([plan.interface.address.to_string()])
    );
    assert!(plan.interface.address.to_string().starts_with("10.4."));
    // kube-dns' /16 is routed through the gateway; DNS points at kube-dns.
    let gw = plan.service_gateway.as_ref().unwrap();
    assert_eq!(gw.cidrs, vec!["10.43.0.0/16".parse().unwrap()]);
    assert_eq!(plan.dns.server, Some("10.43.0.10".parse().unwrap()));

    let Harness {
        ts,
        connection,
        mut plans,
        ..
    } = h;
    connection
        .controller
        .stop(StopMode::Disconnect { keep_peer: false })
        .await
        .unwrap();
    assert_eq!(plans.recv().await, Some(None), "the sink was told to disconnect");
    assert!(ts.peer("kubewire-tester-laptop").is_none());
}

#[tokio::test]
async fn the_same_key_and_address_on_reconnect_and_keep_peer_keeps_it() {
    let h = start(&[("aws", 1)]).await;
    let first = h.connection.plan.interface.clone();
    let Harness {
        ts,
        connection,
        _keys: keys,
        ..
    } = h;
    connection
        .controller
        .stop(StopMode::Disconnect { keep_peer: true })
        .await
        .unwrap();
    assert!(ts.peer("kubewire-tester-laptop").is_some());
    let (sink, _plans) = ChannelSink::new();
    let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let again = connect(options(&ts, &keys), sink, tx, None).await.unwrap();
    assert_eq!(again.plan.interface.public_key, first.public_key);
    assert_eq!(again.plan.interface.address, first.address);
    again.controller.stop(StopMode::Detach).await.unwrap();
    // Detach leaves the Peer (and the tunnel) alone.
    assert!(ts.peer("kubewire-tester-laptop").is_some());
}

#[tokio::test]
async fn a_new_node_reaches_the_sink_within_two_seconds_and_a_removed_one_goes() {
    let mut h = start(&[("aws", 1)]).await;
    // Let the watches settle (their initial lists change nothing).
    no_plan_for(&mut h, Duration::from_millis(500)).await;
    let t = std::time::Instant::now();
    h.ts.add_node("gcp", 2);
    let plan = next_plan(&mut h, Duration::from_secs(2)).await;
    assert_eq!(segments(&plan), ["aws", "gcp"]);
    assert!(plan.routes.contains(&"10.42.2.0/24".parse().unwrap()));
    assert!(t.elapsed() < Duration::from_secs(2));

    h.ts.delete_node("gcp");
    let plan = next_plan(&mut h, Duration::from_secs(2)).await;
    assert_eq!(segments(&plan), ["aws"]);
    assert!(!plan.routes.contains(&"10.42.2.0/24".parse().unwrap()));
}

#[tokio::test]
async fn a_last_seen_refresh_sends_no_new_plan_but_an_endpoint_change_does() {
    let mut h = start(&[("aws", 1), ("gcp", 2)]).await;
    no_plan_for(&mut h, Duration::from_millis(500)).await;
    for _ in 0..3 {
        let now = support::unix_now().to_string();
        h.ts.set_annotation("aws", "last-seen", &now);
        h.ts.set_annotation("gcp", "last-seen", &now);
        // Spans the debounce and at least one periodic re-plan.
        no_plan_for(&mut h, Duration::from_millis(700)).await;
    }
    h.ts.set_annotation("gcp", "endpoint", "198.51.100.9:51820");
    let plan = next_plan(&mut h, Duration::from_secs(2)).await;
    let gcp = plan.peers.iter().find(|p| p.name.contains("gcp")).unwrap();
    assert_eq!(gcp.endpoint.as_ref().unwrap().to_string(), "198.51.100.9:51820");
}

#[tokio::test]
async fn a_burst_of_changes_is_debounced_into_few_plans() {
    let mut h = start(&[("aws", 1)]).await;
    no_plan_for(&mut h, Duration::from_millis(500)).await;
    for (i, name) in ["b1", "b2", "b3", "b4", "b5"].iter().enumerate() {
        h.ts.add_node(name, 10 + u8::try_from(i).unwrap());
    }
    let plan = plan_where(&mut h, Duration::from_secs(3), |p| segments(p).len() == 6).await;
    assert_eq!(segments(&plan).len(), 6);
    let mut extra = 0;
    while h.plans.try_recv().is_ok() {
        extra += 1;
    }
    assert!(extra <= 1, "{extra} extra plans");
}

async fn survives_410(mode: ExpiredMode) {
    let mut h = start(&[("aws", 1), ("gcp", 2)]).await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;
    h.ts.store.set_expired_mode(mode);
    h.ts.stop().await;
    h.ts.delete_node("gcp");
    h.ts.add_node("azure", 3);
    h.ts.store.compact();
    h.ts.restart().await;
    let plan = plan_where(&mut h, WAIT, |p| segments(p) == ["aws", "azure"]).await;
    assert!(plan.routes.contains(&"10.42.3.0/24".parse().unwrap()));
    event_where(
        &mut h,
        Duration::from_secs(1),
        |e| matches!(e, ControllerEvent::Relisted { resource } if resource == "nodes"),
    )
    .await;
    // And it keeps following.
    h.ts.add_node("gcp2", 4);
    plan_where(&mut h, Duration::from_secs(3), |p| segments(p).len() == 3).await;
}

#[tokio::test]
async fn an_in_stream_410_relists() {
    survives_410(ExpiredMode::InStreamError).await;
}

#[tokio::test]
async fn an_http_410_on_the_watch_request_relists() {
    survives_410(ExpiredMode::HttpStatus).await;
}

#[tokio::test]
async fn an_api_outage_keeps_the_last_plan_and_resumes() {
    let mut h = start(&[("aws", 1), ("gcp", 2)]).await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;
    let status = h.connection.controller.status();
    h.ts.stop().await;
    let e = event_where(&mut h, Duration::from_secs(5), |e| {
        matches!(e, ControllerEvent::Unreachable { .. })
    })
    .await;
    assert!(e.to_string().contains("cluster API unreachable since"), "{e}");
    {
        let s = status.borrow();
        assert!(!s.reachable);
        assert!(s.unreachable_since.is_some());
        assert_eq!(
            s.plan.as_ref().map(segments),
            Some(vec!["aws".to_owned(), "gcp".to_owned()])
        );
    }
    // No plan while it is away (the last one stays in force).
    no_plan_for(&mut h, Duration::from_secs(2)).await;
    h.ts.restart().await;
    event_where(&mut h, WAIT, |e| matches!(e, ControllerEvent::Reachable { .. })).await;
    assert!(status.borrow().reachable);
    h.ts.add_node("azure", 3);
    plan_where(&mut h, Duration::from_secs(5), |p| {
        segments(p) == ["aws", "azure", "gcp"]
    })
    .await;
}

fn stats(plan: &Plan, ages: &[(&str, Option<u64>)]) -> Vec<kubewire_ipc::PeerStatus> {
    plan.peers
        .iter()
        .map(|p| kubewire_ipc::PeerStatus {
            name: p.name.clone(),
            public_key: p.public_key,
            endpoint: None,
            allowed_ips: p.allowed_ips.clone(),
            last_handshake_secs: ages
                .iter()
                .find(|(n, _)| p.name.contains(n))
                .and_then(|(_, a)| *a),
            rx_bytes: 0,
            tx_bytes: 0,
            health: None,
        })
        .collect()
}

#[tokio::test]
async fn the_service_gateway_fails_over_and_comes_back() {
    let ts = support::start().await;
    ts.add_node("aws", 1);
    ts.add_node("gcp", 2);
    let keys = tempfile::tempdir().unwrap();
    let (sink, plans) = ChannelSink::new();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let (stats_tx, stats_rx) = tokio::sync::mpsc::channel(4);
    let connection = connect(options(&ts, &keys), sink, tx, Some(stats_rx))
        .await
        .unwrap();
    let mut h = Harness {
        ts,
        connection,
        plans,
        events,
        _keys: keys,
    };
    let first = next_plan(&mut h, Duration::from_secs(1)).await;
    assert_eq!(first.service_gateway.as_ref().unwrap().leader, "aws");
    let status = h.connection.controller.status();

    // Healthy: nothing moves; the first handshake is reported.
    stats_tx
        .send(DaemonSignal::Stats(stats(
            &first,
            &[("aws", Some(10)), ("gcp", Some(10))],
        )))
        .await
        .unwrap();
    event_where(&mut h, Duration::from_secs(2), |e| {
        matches!(
            e,
            ControllerEvent::Step {
                step: Step::FirstHandshake,
                ..
            }
        )
    })
    .await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;

    // The gateway's segment goes quiet for more than 3 minutes while gcp answers.
    stats_tx
        .send(DaemonSignal::Stats(stats(
            &first,
            &[("aws", Some(200)), ("gcp", Some(4))],
        )))
        .await
        .unwrap();
    let moved = plan_where(&mut h, Duration::from_secs(2), |p| {
        p.service_gateway.as_ref().is_some_and(|g| g.leader == "gcp")
    })
    .await;
    let aws = moved.peers.iter().find(|p| p.name.contains("aws")).unwrap();
    assert!(!aws.allowed_ips.contains(&"10.43.0.0/16".parse().unwrap()));
    let e = event_where(&mut h, Duration::from_secs(1), |e| {
        matches!(e, ControllerEvent::GatewayMoved { .. })
    })
    .await;
    assert!(e.to_string().contains("200 s"), "{e}");
    assert_eq!(
        status.borrow().gateway_override.as_ref().map(|(n, _)| n.as_str()),
        Some("gcp")
    );
    // Periodic re-plans keep the override.
    no_plan_for(&mut h, Duration::from_millis(1500)).await;

    // aws recovers: back to it.
    stats_tx
        .send(DaemonSignal::Stats(stats(
            &moved,
            &[("aws", Some(2)), ("gcp", Some(4))],
        )))
        .await
        .unwrap();
    plan_where(&mut h, Duration::from_secs(2), |p| {
        p.service_gateway.as_ref().is_some_and(|g| g.leader == "aws")
    })
    .await;
    assert!(status.borrow().gateway_override.is_none());
}

#[tokio::test]
async fn a_peer_deleted_by_someone_is_registered_again() {
    let mut h = start(&[("aws", 1)]).await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;
    let name = h.connection.peer_name.clone();
    h.ts.store
        .delete("kilo.squat.ai/v1alpha1", "Peer", None, &name)
        .unwrap();
    event_where(
        &mut h,
        Duration::from_secs(3),
        |e| matches!(e, ControllerEvent::Warning { message } if message.contains("registering it again")),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(3), async {
        while h.ts.peer(&name).is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the Peer is back");
    let peer = h.ts.peer(&name).unwrap();
    assert_eq!(
        peer["spec"]["allowedIPs"],
        serde_json::json!([h.connection.plan.interface.address.to_string()])
    );
}

#[tokio::test]
async fn a_node_ageing_out_is_dropped_by_the_periodic_replan() {
    let mut h = start(&[("aws", 1), ("gcp", 2)]).await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;
    // Last seen 57 s ago: still ready now (Kilo's limit is 60 s), stale in about 3 s, with no
    // further event from the API server.
    let old = (support::unix_now() - 57).to_string();
    h.ts.set_annotation("gcp", "last-seen", &old);
    no_plan_for(&mut h, Duration::from_millis(1500)).await;
    let plan = next_plan(&mut h, Duration::from_secs(6)).await;
    assert_eq!(segments(&plan), ["aws"]);
    assert!(
        plan.skipped.iter().any(|s| s.to_string().contains("gcp")),
        "{:?}",
        plan.skipped
    );
}

/// A sink that refuses Plans while `failures` is above zero (counting down), then forwards them.
struct FlakySink {
    failures: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    inner: ChannelSink,
}

impl kubewire_cluster::PlanSink for FlakySink {
    fn apply<'a>(
        &'a mut self,
        update: &'a kubewire_cluster::PlanUpdate,
    ) -> futures::future::BoxFuture<'a, Result<(), kubewire_cluster::SinkError>> {
        use std::sync::atomic::Ordering;
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Box::pin(async { Err(kubewire_cluster::SinkError::Closed) });
        }
        self.inner.apply(update)
    }

    fn disconnect(&mut self) -> futures::future::BoxFuture<'_, Result<(), kubewire_cluster::SinkError>> {
        self.inner.disconnect()
    }
}

#[tokio::test]
async fn a_failed_apply_is_retried_and_a_failed_first_apply_fails_connect() {
    let ts = support::start().await;
    ts.add_node("aws", 1);
    let keys = tempfile::tempdir().unwrap();

    // The first apply fails: connect fails and removes the Peer it registered.
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let (inner, _plans) = ChannelSink::new();
    let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let sink = FlakySink {
        failures: failures.clone(),
        inner,
    };
    let err = connect(options(&ts, &keys), sink, tx, None).await.unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
    assert!(ts.peer("kubewire-tester-laptop").is_none());

    // Later failures are retried by the periodic re-plan.
    let (inner, plans) = ChannelSink::new();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let sink = FlakySink {
        failures: failures.clone(),
        inner,
    };
    let connection = connect(options(&ts, &keys), sink, tx, None).await.unwrap();
    let mut h = Harness {
        ts,
        connection,
        plans,
        events,
        _keys: keys,
    };
    next_plan(&mut h, Duration::from_secs(1)).await;
    no_plan_for(&mut h, Duration::from_millis(300)).await;
    failures.store(2, std::sync::atomic::Ordering::SeqCst);
    h.ts.add_node("gcp", 2);
    event_where(&mut h, Duration::from_secs(2), |e| {
        matches!(e, ControllerEvent::SinkFailed { .. })
    })
    .await;
    let plan = next_plan(&mut h, Duration::from_secs(5)).await;
    assert_eq!(segments(&plan), ["aws", "gcp"]);
}
