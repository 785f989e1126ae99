//! Which icon, tooltip, menu and notifications for which events.

use std::time::Duration;

use kubewire_cluster::ControllerEvent;
use kubewire_cluster::events::Step;
use kubewire_core::{Plan, PlanRequest, PublicKey, Snapshot};
use kubewire_ipc::{ClientError, PeerHealth, PeerStatus, SessionInfo, Status, TunnelState};

use super::*;
use crate::errors;
use crate::types::{ContextInfo, ErrorKind, Health, Phase, StepProgress};

const NOW: u64 = 1_800_000_100;

fn plan() -> Plan {
    let text = include_str!("../../core/tests/fixtures/seed-cluster.yaml");
    let snapshot = Snapshot::parse(text).unwrap();
    let key: PublicKey = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap();
    let mut request = PlanRequest::new(key);
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    let plan = kubewire_core::plan(&snapshot, &request, 1_800_000_010).unwrap();
    assert!(plan.service_gateway.is_some());
    plan
}

fn contexts() -> Vec<ContextInfo> {
    ["lab", "prod"]
        .iter()
        .map(|n| ContextInfo {
            name: (*n).into(),
            cluster: (*n).into(),
            server: format!("https://{n}:6443"),
            namespace: None,
            current: *n == "prod",
        })
        .collect()
}

/// The daemon's status for `plan` with these handshake ages per peer (in plan order).
/// A status as the daemon reports it at `NOW`: each peer judged (added at `since`), Degraded when
/// one is not ok.
fn status(plan: &Plan, ages: &[Option<u64>], since: u64) -> Status {
    let mut s = Status::disconnected();
    s.state = TunnelState::Connected;
    s.address = Some(plan.interface.address);
    s.connected_since = Some(since);
    s.controller_attached = true;
    s.session = Some(SessionInfo {
        context: "lab".into(),
        cluster: "https://lab:6443".into(),
        peer_name: "me".into(),
        name: "lab".into(),
    });
    s.service_gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
    s.peers = plan
        .peers
        .iter()
        .zip(ages.iter().chain(std::iter::repeat(&Some(5))))
        .map(|(p, age)| PeerStatus {
            name: p.name.clone(),
            public_key: p.public_key,
            endpoint: p.endpoint.as_ref().map(ToString::to_string),
            allowed_ips: p.allowed_ips.clone(),
            last_handshake_secs: *age,
            rx_bytes: 1000,
            tx_bytes: 2000,
            health: Some(PeerHealth::judge(*age, NOW.saturating_sub(since))),
        })
        .collect();
    if s.peers.iter().any(|p| !p.health().is_ok()) {
        s.state = TunnelState::Degraded;
    }
    s
}

fn connected_model() -> (TrayModel, Vec<Notice>) {
    let plan = plan();
    let mut m = TrayModel::new();
    m.daemon_status(Status::disconnected(), NOW - 10);
    m.connect_started(Some("lab".into()), NOW - 10);
    m.daemon_status(status(&plan, &[], NOW - 5), NOW - 5);
    let notices = m.connected(
        Connected {
            context: "lab".into(),
            server: "https://lab:6443".into(),
            plan,
        },
        NOW,
    );
    (m, notices)
}

#[test]
fn at_rest_it_is_disconnected_with_the_current_context_marked() {
    let mut m = TrayModel::new();
    m.daemon_status(Status::disconnected(), NOW);
    assert_eq!(m.icon(), Phase::Disconnected);
    assert_eq!(m.tooltip(), "kubewire\ndisconnected");
    let menu = m.menu(&contexts());
    let labels: Vec<&str> = menu.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "disconnected",
            "",
            "Connect to lab",
            "Connect to prod",
            "Disconnect",
            "",
            "Open kubewire",
            "Quit"
        ]
    );
    let marked: Vec<&MenuEntry> = menu.iter().filter(|e| e.checked).collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].action, MenuAction::Connect("prod".into()));
    let disconnect = menu.iter().find(|e| e.action == MenuAction::Disconnect).unwrap();
    assert!(!disconnect.enabled, "nothing to disconnect");
}

#[test]
fn connecting_shows_the_running_step_and_locks_the_context_items() {
    let mut m = TrayModel::new();
    m.daemon_status(Status::disconnected(), NOW);
    m.connect_started(Some("lab".into()), NOW);
    assert_eq!(m.icon(), Phase::Connecting);
    assert_eq!(m.tooltip(), "kubewire · lab\nconnecting: kubeconfig…");
    let n = m.controller_event(
        &ControllerEvent::Step {
            step: Step::Kubeconfig,
            took: Duration::from_millis(12),
            detail: "context lab".into(),
        },
        NOW,
    );
    assert!(n.is_empty(), "steps do not notify");
    let steps = &m.state().steps;
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[0].id, "kubeconfig");
    assert_eq!(steps[0].state, StepProgress::Done);
    assert_eq!(steps[0].ms, Some(12));
    assert_eq!(steps[1].id, "api-reachable");
    assert_eq!(steps[1].state, StepProgress::Running);
    assert_eq!(steps[7].id, "first-handshake");
    assert!(m.tooltip().ends_with("connecting: API server reachable…"));
    let menu = m.menu(&contexts());
    let lab = menu
        .iter()
        .find(|e| e.action == MenuAction::Connect("lab".into()))
        .unwrap();
    assert!(lab.checked, "the context being connected is marked");
    assert!(!lab.enabled, "no second connect while one runs");
    assert!(
        menu.iter()
            .find(|e| e.action == MenuAction::Disconnect)
            .unwrap()
            .enabled
    );
}

#[test]
fn connected_with_recent_handshakes_is_green_and_notifies_once() {
    let (m, notices) = connected_model();
    assert_eq!(
        notices,
        [Notice::Connected {
            context: "lab".into()
        }]
    );
    assert_eq!(m.icon(), Phase::Connected);
    let peers = plan().peers.len();
    assert_eq!(
        m.tooltip(),
        format!("kubewire · lab\nconnected, {peers} segments")
    );
    let s = m.state();
    assert_eq!(s.cluster.as_deref(), Some("https://lab:6443"));
    assert!(s.laptop_address.is_some());
    assert!(s.controller_attached);
    // Every node of the fixture is a row, the gateway's leader marked, all healthy.
    let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    for node in ["aws", "azure", "gcp", "aliyun"] {
        assert!(names.contains(&node), "{node} missing from {names:?}");
    }
    assert!(s.nodes.iter().all(|n| n.health == Health::Healthy));
    assert_eq!(s.nodes.iter().filter(|n| n.gateway).count(), 1);
    let gw = s.nodes.iter().find(|n| n.gateway).unwrap();
    assert_eq!(s.gateway.as_deref(), Some(gw.name.as_str()));
    assert_eq!(gw.handshake_age_secs, Some(5));
    assert_eq!(gw.rx_bytes, 1000);
    assert_eq!(s.topology.segments.len(), peers);
    assert_eq!(s.topology.segments.iter().filter(|g| g.gateway).count(), 1);
    assert_eq!(s.topology.laptop.address, s.laptop_address);
    let dns = s.dns.as_ref().unwrap();
    assert_eq!(dns.zone, "cluster.local");
    let menu = m.menu(&contexts());
    assert!(
        menu.iter()
            .find(|e| e.action == MenuAction::Connect("lab".into()))
            .unwrap()
            .checked
    );
    assert!(
        !menu
            .iter()
            .find(|e| e.action == MenuAction::Connect("prod".into()))
            .unwrap()
            .checked
    );
}

#[test]
fn a_segment_without_handshake_degrades_only_after_the_grace_time() {
    let plan = plan();
    let (mut m, _) = connected_model();
    m.daemon_status(status(&plan, &[Some(3), None], NOW - 5), NOW);
    assert_eq!(m.icon(), Phase::Connected, "still coming up");
    m.daemon_status(status(&plan, &[Some(3), None], NOW - 60), NOW);
    assert_eq!(m.icon(), Phase::Degraded);
    assert!(m.tooltip().contains("no handshake with"), "{}", m.tooltip());
    assert!(m.state().nodes.iter().any(|n| n.health == Health::NoHandshake));
    // A stale handshake degrades at once.
    m.daemon_status(status(&plan, &[Some(400)], NOW - 5), NOW);
    assert_eq!(m.icon(), Phase::Degraded);
    assert!(m.state().nodes.iter().any(|n| n.health == Health::Stale));
}

#[test]
fn the_tray_shows_the_health_the_daemon_reported_and_does_not_judge_again() {
    let plan = plan();
    let (mut m, _) = connected_model();
    // The session is a minute old, but the daemon re-added the second segment a moment ago: it is
    // in its grace period, and the daemon says Connected.
    let mut s = status(&plan, &[Some(3), None], NOW - 5);
    s.connected_since = Some(NOW - 60);
    assert_eq!(s.state, TunnelState::Connected);
    m.daemon_status(s, NOW);
    assert_eq!(m.icon(), Phase::Connected, "{}", m.tooltip());
    // The daemon says Degraded (a warning the tray cannot see in the handshakes): Degraded.
    let mut s = status(&plan, &[Some(3), Some(4)], NOW - 60);
    s.state = TunnelState::Degraded;
    m.daemon_status(s, NOW);
    assert_eq!(m.icon(), Phase::Degraded);
}

#[test]
fn the_cluster_api_going_away_degrades_and_coming_back_recovers() {
    let (mut m, _) = connected_model();
    let n = m.controller_event(
        &ControllerEvent::Unreachable {
            since: std::time::SystemTime::now(),
            message: "connection refused".into(),
        },
        NOW,
    );
    assert!(n.is_empty());
    assert_eq!(m.icon(), Phase::Degraded);
    assert_eq!(m.tooltip(), "kubewire · lab\ndegraded: cluster API unreachable");
    assert!(!m.state().api_reachable);
    m.controller_event(
        &ControllerEvent::Reachable {
            after: Duration::from_secs(9),
        },
        NOW,
    );
    assert_eq!(m.icon(), Phase::Connected);
    assert!(m.state().warnings.is_empty());
}

#[test]
fn credentials_refused_while_connected_offer_sign_in_again_until_connected_again() {
    let (mut m, _) = connected_model();
    assert!(
        !m.menu(&contexts()).iter().any(|e| e.action == MenuAction::SignIn),
        "not offered while the credentials work"
    );
    let n = m.controller_event(
        &ControllerEvent::SignInNeeded {
            message: "Unauthorized".into(),
        },
        NOW,
    );
    assert_eq!(n.len(), 1, "notified once: {n:?}");
    let (title, body) = n[0].text();
    assert_eq!(title, "kubewire: Sign in to lab again");
    assert!(body.contains("expired or were revoked"), "{body}");
    assert!(m.state().sign_in_needed);
    assert_eq!(m.state().error.as_ref().map(|e| e.kind), Some(ErrorKind::SignIn));
    // Not called a missing permission.
    assert!(!m.state().warnings.iter().any(|w| w.contains("refuses")));
    let menu = m.menu(&contexts());
    let item = menu.iter().find(|e| e.action == MenuAction::SignIn).unwrap();
    assert_eq!(item.label, "Sign in again to lab…");
    assert!(item.enabled);
    // The same event again: no second notification.
    let n = m.controller_event(
        &ControllerEvent::SignInNeeded {
            message: "Unauthorized".into(),
        },
        NOW,
    );
    assert!(n.is_empty());
    // Signing in is connecting again: once connected, the offer and the error are gone.
    m.connect_started(Some("lab".into()), NOW);
    m.connected(
        Connected {
            context: "lab".into(),
            server: "https://lab:6443".into(),
            plan: plan(),
        },
        NOW,
    );
    assert!(!m.state().sign_in_needed);
    assert!(m.state().error.is_none());
    assert!(!m.menu(&contexts()).iter().any(|e| e.action == MenuAction::SignIn));
}

#[test]
fn a_connect_refused_with_401_is_a_sign_in_error_not_rbac() {
    let mut m = TrayModel::new();
    m.connect_started(Some("lab".into()), NOW);
    let e = errors::from_cluster(&kubewire_cluster::ClusterError::SignInNeeded {
        context: "lab".into(),
        server: "https://lab:6443".into(),
    });
    assert_eq!(e.kind, ErrorKind::SignIn);
    assert_eq!(e.title, "Sign in to lab again");
    m.connect_failed(e, NOW);
    assert!(m.state().sign_in_needed);
    assert!(m.menu(&contexts()).iter().any(|e| e.action == MenuAction::SignIn));
}

#[test]
fn gateway_failover_notifies_and_warnings_do_not() {
    let (mut m, _) = connected_model();
    let n = m.controller_event(
        &ControllerEvent::GatewayMoved {
            from: Some("aws".into()),
            to: Some("gcp".into()),
            reason: "no handshake for 3 minutes".into(),
        },
        NOW,
    );
    assert_eq!(n.len(), 1);
    let (title, body) = n[0].text();
    assert!(title.contains("gateway"));
    assert!(body.contains("gcp") && body.contains("aws"), "{body}");
    let n = m.controller_event(&ControllerEvent::Warning { message: "w".into() }, NOW);
    assert!(n.is_empty());
    assert_eq!(m.state().warnings, ["w"]);
}

#[test]
fn the_tunnel_going_down_notifies_and_clears_the_nodes() {
    let (mut m, _) = connected_model();
    let n = m.daemon_status(Status::disconnected(), NOW);
    assert_eq!(n, [Notice::Disconnected]);
    assert_eq!(m.icon(), Phase::Disconnected);
    assert!(m.state().nodes.is_empty());
    assert!(m.state().topology.segments.is_empty());
    assert!(m.state().dns.is_none());
    assert!(
        !m.menu(&contexts())
            .iter()
            .find(|e| e.action == MenuAction::Disconnect)
            .unwrap()
            .enabled
    );
    // And the same status again says nothing.
    assert!(m.daemon_status(Status::disconnected(), NOW).is_empty());
}

#[test]
fn a_daemon_restart_while_following_is_degraded_not_a_disconnect() {
    let (mut m, _) = connected_model();
    let plan = plan();
    // The daemon's connection closes (kill -9, systemctl restart): degraded, still following.
    assert!(m.daemon_lost(NOW).is_empty());
    assert_eq!(m.icon(), Phase::Degraded);
    assert!(
        m.status_line().starts_with("degraded: kubewired restarting"),
        "{}",
        m.status_line()
    );
    // Not there yet: the error is kept for the window, the icon stays degraded.
    let error = errors::from_client(&ClientError::NotRunning {
        socket: "/run/kubewire/kubewired.sock".into(),
    });
    m.daemon_unreachable(error, NOW + 1);
    assert_eq!(m.icon(), Phase::Degraded);
    // Back without a tunnel: no "disconnected" notice, Disconnect still offered.
    assert!(m.daemon_status(Status::disconnected(), NOW + 2).is_empty());
    assert!(m.following());
    assert_eq!(m.icon(), Phase::Degraded);
    assert!(
        m.menu(&contexts())
            .iter()
            .find(|e| e.action == MenuAction::Disconnect)
            .unwrap()
            .enabled
    );
    // The controller re-applied: connected again.
    m.daemon_status(status(&plan, &[Some(3), Some(4)], NOW - 60), NOW + 3);
    assert_eq!(m.icon(), Phase::Connected, "{}", m.status_line());
    // Without a controller of ours, a restart is what it was: the tunnel went down.
    m.stopped_following();
    m.daemon_lost(NOW + 4);
    assert_eq!(
        m.daemon_status(Status::disconnected(), NOW + 5),
        [Notice::Disconnected]
    );
}

#[test]
fn an_unreachable_daemon_is_an_error_with_its_fix_until_it_answers() {
    let mut m = TrayModel::new();
    let error = errors::from_client(&ClientError::NotRunning {
        socket: "/run/kubewire/kubewired.sock".into(),
    });
    let n = m.daemon_unreachable(error.clone(), NOW);
    assert_eq!(n.len(), 1, "notified once");
    let (title, body) = n[0].text();
    assert_eq!(title, "kubewire: The kubewire service is not running");
    assert!(
        body.starts_with("Nothing listens at /run/kubewire/kubewired.sock")
            && body.contains("\nStart the kubewire service"),
        "the notification says what is wrong and what to do: {body}"
    );
    assert!(m.daemon_unreachable(error, NOW + 5).is_empty(), "not again");
    assert_eq!(m.icon(), Phase::Error);
    assert_eq!(
        m.tooltip(),
        "kubewire\nerror: The kubewire service is not running"
    );
    let s = m.state();
    assert!(!s.daemon_reachable);
    assert_eq!(s.error.as_ref().unwrap().kind, ErrorKind::DaemonUnreachable);
    m.daemon_status(Status::disconnected(), NOW + 10);
    assert_eq!(m.icon(), Phase::Disconnected);
    assert!(m.state().error.is_none());
    assert!(m.state().daemon_reachable);
}

#[test]
fn a_failed_connect_marks_its_step_and_shows_the_error() {
    let mut m = TrayModel::new();
    m.daemon_status(Status::disconnected(), NOW);
    m.connect_started(Some("lab".into()), NOW);
    m.controller_event(
        &ControllerEvent::Step {
            step: Step::Kubeconfig,
            took: Duration::from_millis(1),
            detail: String::new(),
        },
        NOW,
    );
    m.controller_event(
        &ControllerEvent::Step {
            step: Step::ApiReachable,
            took: Duration::from_millis(1),
            detail: String::new(),
        },
        NOW,
    );
    let n = m.connect_failed(
        errors::from_cluster(&kubewire_cluster::ClusterError::KiloMissing),
        NOW,
    );
    assert_eq!(n.len(), 1);
    assert_eq!(m.icon(), Phase::Error);
    let steps = &m.state().steps;
    assert_eq!(steps[2].id, "kilo-present");
    assert_eq!(steps[2].state, StepProgress::Failed);
    assert_eq!(steps[3].state, StepProgress::Pending);
    assert_eq!(m.state().error.as_ref().unwrap().kind, ErrorKind::KiloMissing);
    // Retrying clears the error.
    m.connect_started(Some("lab".into()), NOW);
    assert_eq!(m.icon(), Phase::Connecting);
    assert!(m.state().error.is_none());
}

#[test]
fn a_tunnel_left_by_an_earlier_run_shows_without_a_plan() {
    let plan = plan();
    let mut m = TrayModel::new();
    let mut s = status(&plan, &[], NOW - 100);
    s.controller_attached = false;
    m.daemon_status(s, NOW);
    assert_eq!(m.icon(), Phase::Connected);
    assert!(
        m.tooltip().contains("not following the cluster"),
        "{}",
        m.tooltip()
    );
    assert_eq!(m.state().context.as_deref(), Some("lab"));
    assert_eq!(m.state().nodes.len(), plan.peers.len(), "one row per peer");
    assert!(!m.following());
}

#[test]
fn with_the_tunnel_up_quit_asks_whether_to_disconnect() {
    let (m, _) = connected_model();
    let menu = m.menu(&contexts());
    let tail: Vec<(&MenuAction, &str)> = menu
        .iter()
        .rev()
        .take(2)
        .map(|e| (&e.action, e.label.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            (&MenuAction::QuitKeep, "Quit, keep the tunnel up"),
            (&MenuAction::QuitDisconnect, "Disconnect and quit"),
        ]
    );
    assert!(!menu.iter().any(|e| e.action == MenuAction::Quit));
}

#[test]
fn menu_ids_round_trip() {
    for action in [
        MenuAction::Connect("a:b".into()),
        MenuAction::Disconnect,
        MenuAction::Open,
        MenuAction::Quit,
        MenuAction::QuitDisconnect,
        MenuAction::QuitKeep,
        MenuAction::SignIn,
    ] {
        assert_eq!(MenuAction::from_id(&action.id()), Some(action));
    }
    assert_eq!(MenuAction::from_id("status"), None);
}

#[test]
fn the_state_serialises_as_the_contract_says() {
    let (m, _) = connected_model();
    let v = serde_json::to_value(m.state()).unwrap();
    assert_eq!(v["phase"], "connected");
    assert!(v["laptopAddress"].is_string());
    assert!(v["daemonReachable"].as_bool().unwrap());
    assert_eq!(v["steps"][0]["id"], "kubeconfig");
    assert_eq!(v["nodes"][0]["health"], "healthy");
    assert!(v["nodes"][0]["handshakeAgeSecs"].is_number());
    assert!(v["topology"]["segments"][0]["members"].is_array());
    assert!(v["dns"]["searchSuffixes"].is_array());
    assert_eq!(v["signInNeeded"], false);
    let e = serde_json::to_value(errors::sign_in_needed("lab", "Unauthorized")).unwrap();
    assert_eq!(e["kind"], "sign-in");
    let e = serde_json::to_value(errors::from_client(&ClientError::NotRunning {
        socket: "s".into(),
    }))
    .unwrap();
    assert_eq!(e["kind"], "daemon-unreachable");
}

#[test]
fn the_window_shows_the_last_network_change_and_the_mtu_the_daemon_reported() {
    let (mut m, _) = connected_model();
    let mut s = status(&plan(), &[], NOW - 5);
    s.mtu = Some(kubewire_core::mtu::TunnelMtu::choose(None, [Some(1400)]));
    s.network_event = Some(kubewire_core::network_event::NetworkEvent {
        at: NOW - 3,
        changes: vec!["10.42.3.0/24 on wlan0 appeared".into()],
        actions: vec!["10.42.3.0/24 (aws) withdrawn from the tunnel".into()],
    });
    m.daemon_status(s, NOW);
    let state = m.state();
    assert_eq!(state.mtu.as_deref(), Some("1320 (the underlay's 1400 less 80)"));
    let note = state.network.as_ref().unwrap();
    assert_eq!(note.at, NOW - 3);
    assert_eq!(
        note.text,
        "10.42.3.0/24 on wlan0 appeared → 10.42.3.0/24 (aws) withdrawn from the tunnel"
    );
    m.daemon_status(Status::disconnected(), NOW + 1);
    assert!(m.state().network.is_none() && m.state().mtu.is_none());
}
