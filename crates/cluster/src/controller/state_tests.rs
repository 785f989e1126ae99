//! Unit tests of the pure controller: fake time, no API server, no daemon, no network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::testing::{Harness, config, node, snapshot};
use super::{Daemon, Reachability};
use crate::events::ControllerEvent;
use crate::watch::ClusterChange;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

/// Three segments (aws, gcp, azure), seen just now on the API server's clock.
fn three(api_offset: i64) -> Harness {
    let now = super::testing::T0 as i64 + api_offset;
    let nodes = [
        node(0, "aws", 51820, now),
        node(1, "gcp", 51820, now),
        node(2, "azure", 51820, now),
    ];
    Harness::connected(&config(), snapshot(&nodes, &[]), api_offset)
}

fn segment_names(plan: &kubewire_core::Plan) -> Vec<String> {
    crate::failover::segments(plan)
        .into_iter()
        .map(|s| s.leader)
        .collect()
}

#[test]
fn the_first_change_is_planned_at_once_and_the_rest_of_its_burst_as_one_plan() {
    let mut h = three(0);
    assert!(h.daemon_plan.is_some(), "connected");
    let seen = h.api_now();
    h.change(ClusterChange::NodeApplied(node(3, "ovh", 51820, seen)));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "the first change is planned at once, no wait");
    assert!(segment_names(sent[0]).contains(&"node-3".to_owned()));
    // Changes that follow within the quiet time are coalesced: one Plan at its end.
    h.advance(20 * MS);
    h.change(ClusterChange::NodeApplied(node(4, "hetzner", 51820, seen)));
    h.advance(30 * MS);
    h.change(ClusterChange::NodeApplied(node(5, "scaleway", 51820, seen)));
    assert_eq!(
        h.c.poll_timeout(),
        Some(h.start + 100 * MS),
        "the quiet time runs from the first Plan; the others do not extend it"
    );
    h.advance(49 * MS);
    assert_eq!(h.sent().len(), 1, "nothing more before the quiet time is over");
    h.advance(2 * MS);
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "one Plan for the rest of the burst");
    let leaders = segment_names(sent[1]);
    assert!(
        leaders.contains(&"node-4".to_owned()) && leaders.contains(&"node-5".to_owned()),
        "{leaders:?}"
    );
    assert_eq!(sent[1].peers.len(), 6);
    // A heartbeat only (last-seen) changes nothing the daemon sees, and opens no quiet time:
    // a real change right after it is planned at once.
    h.advance(S);
    h.change(ClusterChange::NodeApplied(node(3, "ovh", 51820, seen + 1)));
    assert_eq!(h.sent().len(), 2, "a heartbeat sends no Plan");
    h.advance(MS);
    h.change(ClusterChange::NodeDeleted("node-5".into()));
    assert_eq!(h.sent().len(), 3, "planned at once, 1 ms after a heartbeat");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, ControllerEvent::PlanSent { peers: 6, .. })),
        "{:?}",
        h.events
    );
}

#[test]
fn an_unreachable_api_server_is_probed_with_backoff_and_the_plan_stays() {
    let mut h = three(0);
    let before = h.daemon_plan.clone();
    h.api_up = false;
    h.advance(41 * S);
    let probes: Vec<u64> = h.probes.iter().map(Duration::as_secs).collect();
    assert_eq!(probes, [5, 6, 8, 12, 20, 30, 40], "1 s, doubling, at most 10 s");
    assert!(matches!(h.c.reachability(), Reachability::Unreachable { .. }));
    let status = h.c.status();
    assert!(!status.reachable);
    assert_eq!(status.unreachable_since, Some(super::testing::T0 + 5));
    assert_eq!(status.last_error.as_deref(), Some("connection refused"));
    let unreachable = h
        .events
        .iter()
        .filter(|e| matches!(e, ControllerEvent::Unreachable { .. }))
        .count();
    assert_eq!(unreachable, 1, "said once: {:?}", h.events);
    // A change while it is away is not planned (the watches are stale, readiness would age out).
    h.change(ClusterChange::NodeApplied(node(3, "ovh", 51820, h.api_now())));
    h.advance(2 * S);
    assert!(h.sent().is_empty(), "the last Plan stays");
    assert_eq!(h.daemon_plan, before);
    // It returns: said, then after the watches' catch-up time the change follows.
    h.api_up = true;
    h.advance(7 * S); // next probe at 50 s
    assert!(h.c.reachability().is_reachable());
    assert!(
        h.events
            .iter()
            .any(|e| *e == ControllerEvent::Reachable { after: 45 * S }),
        "{:?}",
        h.events
    );
    assert!(h.sent().is_empty(), "not before the watches caught up");
    h.advance(1100 * MS);
    assert_eq!(h.sent().len(), 1);
    assert_eq!(h.sent()[0].peers.len(), 4, "the node that joined meanwhile");
    assert!(h.c.status().reachable);
}

#[test]
fn a_failing_watch_asks_for_a_probe_at_once_and_a_refusal_is_said_once() {
    let mut h = three(0);
    h.advance(S);
    for _ in 0..2 {
        h.change(ClusterChange::WatchFailed {
            resource: "nodes",
            status: Some(403),
            message: "nodes is Forbidden: User \"dev\" cannot watch".into(),
        });
    }
    assert_eq!(h.probes.first(), Some(&S), "probed at once");
    let warnings = h
        .events
        .iter()
        .filter(|e| matches!(e, ControllerEvent::Warning { message } if message.contains("refuses")))
        .count();
    assert_eq!(warnings, 1);
}

#[test]
fn a_refusal_is_judged_by_its_status_code_not_its_words() {
    let refusals = |h: &Harness| {
        h.events
            .iter()
            .filter(|e| matches!(e, ControllerEvent::Warning { message } if message.contains("refuses")))
            .count()
    };
    let mut h = three(0);
    h.advance(S);
    // A 500 that happens to say "Forbidden", and a connection error: retried, no RBAC warning.
    h.change(ClusterChange::WatchFailed {
        resource: "nodes",
        status: Some(500),
        message: "etcd: Forbidden zone unavailable".into(),
    });
    h.change(ClusterChange::WatchFailed {
        resource: "peers",
        status: None,
        message: "Unauthorized proxy? connection reset".into(),
    });
    assert_eq!(refusals(&h), 0);
    // Kubernetes' own 403 says "forbidden" in lower case (and an empty reason): warned once.
    h.change(ClusterChange::WatchFailed {
        resource: "nodes",
        status: Some(403),
        message: "error returned by apiserver during watch: nodes is forbidden: User \"dev\" cannot watch resource \"nodes\": ".into(),
    });
    assert_eq!(refusals(&h), 1);
}

#[test]
fn an_expired_credential_asks_to_sign_in_again_and_is_not_called_a_missing_permission() {
    let mut h = three(0);
    h.advance(S);
    for resource in ["namespaces", "nodes", "peers"] {
        h.change(ClusterChange::WatchFailed {
            resource,
            status: Some(401),
            message: "Unauthorized".into(),
        });
    }
    let sign_in: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, ControllerEvent::SignInNeeded { .. }))
        .collect();
    assert_eq!(sign_in.len(), 1, "said once, not per watch: {:?}", h.events);
    let rbac = h
        .events
        .iter()
        .filter(|e| matches!(e, ControllerEvent::Warning { message } if message.contains("refuses")))
        .count();
    assert_eq!(rbac, 0, "a 401 is not RBAC: {:?}", h.events);
    assert!(h.c.status().sign_in_needed);
    // The text says what to do.
    let text = sign_in[0].to_string();
    assert!(text.contains("sign in again"), "{text}");
}

#[test]
fn a_stale_service_gateway_fails_over_to_a_healthy_segment_and_comes_back() {
    let mut h = three(0);
    let plan = h.daemon_plan.clone().unwrap();
    let gateway = plan.service_gateway.clone().unwrap();
    let segments = crate::failover::segments(&plan);
    let other = segments.iter().find(|s| s.peer != gateway.peer).unwrap().clone();
    let ages: Vec<(&str, Option<u64>)> = segments
        .iter()
        .map(|s| {
            (
                s.peer.as_str(),
                Some(if s.peer == gateway.peer { 200 } else { 5 }),
            )
        })
        .collect();
    h.stats(&ages);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "re-planned at once");
    let moved = sent[0].service_gateway.as_ref().unwrap();
    assert_eq!(moved.leader, other.leader);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, ControllerEvent::GatewayMoved { to: Some(n), .. } if *n == other.leader)),
        "{:?}",
        h.events
    );
    assert!(h.c.status().gateway_override.is_some());
    assert!(
        h.events.iter().any(|e| matches!(e, ControllerEvent::Step { .. })),
        "the first handshake is a step"
    );
    // The original is healthy again: back.
    let ages: Vec<(&str, Option<u64>)> = segments.iter().map(|s| (s.peer.as_str(), Some(3))).collect();
    h.stats(&ages);
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].service_gateway.as_ref().unwrap().peer, gateway.peer);
    assert!(h.c.status().gateway_override.is_none());
}

#[test]
fn a_restarted_daemon_gets_the_plan_again_with_backoff_then_what_changed_meanwhile() {
    let mut h = three(0);
    let in_force = h.daemon_plan.clone().unwrap();
    h.advance(S);
    h.daemon_down();
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, ControllerEvent::DaemonLost { .. }))
    );
    assert_eq!(h.c.status().daemon_lost_since, Some(super::testing::T0 + 1));
    // A node joins while the daemon is away: nothing is sent to nobody.
    h.change(ClusterChange::NodeApplied(node(3, "ovh", 51820, h.api_now())));
    h.advance(S);
    assert!(h.applied.is_empty());
    // It answers, but cannot take the Plan yet: retried after 0.5 s, 1 s, 2 s.
    h.daemon_up = false;
    h.c.handle_daemon_back(h.now());
    h.drive();
    h.advance(3600 * MS);
    let failures = h
        .events
        .iter()
        .filter(|e| matches!(e, ControllerEvent::SinkFailed { .. }))
        .count();
    assert_eq!(failures, 4, "at 2 s, 2.5 s, 3.5 s and 5.5 s: {:?}", h.events);
    assert!(matches!(h.c.daemon(), Daemon::Lost { retry: Some(_), .. }));
    // Now it takes it: first the Plan in force, then the newer one.
    h.daemon_up = true;
    h.advance(4 * S);
    assert!(h.applied[0].restore, "the Plan in force first");
    assert!(super::same_plan(&h.applied[0].plan, &in_force));
    assert_eq!(h.sent().len(), 1, "then what changed meanwhile");
    assert_eq!(h.daemon_plan.as_ref().unwrap().peers.len(), 4);
    assert!(
        h.events
            .iter()
            .any(|e| *e == ControllerEvent::DaemonBack { after: 8500 * MS }),
        "{:?}",
        h.events
    );
    assert!(h.c.status().daemon_reachable());
}

#[test]
fn readiness_is_judged_on_the_api_servers_clock() {
    // The laptop's clock is two hours behind the API server's.
    let mut h = three(7200);
    assert_eq!(
        h.daemon_plan.as_ref().unwrap().cluster.ready_nodes,
        3,
        "ready by the API clock"
    );
    // node-0 keeps sending heartbeats; the others stop.
    for _ in 0..13 {
        h.advance(5 * S);
        h.change(ClusterChange::NodeApplied(node(0, "aws", 51820, h.api_now())));
    }
    let last = h.daemon_plan.clone().unwrap();
    assert_eq!(last.cluster.ready_nodes, 1, "the silent nodes aged out");
    assert_eq!(segment_names(&last), ["node-0"]);
    // None ready at all: the last Plan stays, with a warning.
    h.advance(70 * S);
    assert_eq!(h.daemon_plan.as_ref().unwrap().cluster.ready_nodes, 1);
    assert!(
        h.c.status()
            .warnings
            .iter()
            .any(|w| w.contains("keeping the last plan"))
    );
}

#[test]
fn a_node_of_the_first_snapshot_missing_from_the_watchs_list_leaves_the_plan() {
    // connect listed three nodes; node-2 is deleted before the watch lists (or while the API server
    // is away): the watch's list no longer has it.
    let mut h = three(0);
    assert_eq!(h.daemon_plan.as_ref().unwrap().peers.len(), 3);
    let now = h.api_now();
    h.change(ClusterChange::NodesListed(vec![
        node(0, "aws", 51820, now),
        node(1, "gcp", 51820, now),
    ]));
    h.advance(200 * MS);
    let plan = h.daemon_plan.clone().unwrap();
    assert_eq!(plan.cluster.nodes, 2, "node-2 is gone from the snapshot");
    assert_eq!(segment_names(&plan), ["node-0", "node-1"]);
}

#[test]
fn a_resume_probes_at_once_rewatches_and_sends_the_plan_again_after_the_lists() {
    let mut h = three(0);
    h.advance(2 * S);
    let probes = h.probes.len();
    let applied = h.applied.len();
    // The laptop slept for 3 minutes; the shell noticed 2 s in (its next probe is 3 s away).
    h.c.handle_resume(180 * S, h.now());
    h.drive();
    assert_eq!(h.rewatches, [2 * S], "fresh watches at once");
    assert_eq!(h.c.poll_timeout(), Some(h.now()), "a probe is due now");
    h.advance(MS);
    assert_eq!(
        h.probes.len(),
        probes + 1,
        "probed at once, not at the next period"
    );
    assert_eq!(h.probes.last(), Some(&(2 * S)));
    // The fresh lists arrive; the Plan goes out again after the settle time even though it is
    // the same (the daemon re-resolves the endpoints and the handshakes start over).
    let seen = h.api_now();
    h.change(ClusterChange::NodesListed(vec![
        node(0, "aws", 51820, seen),
        node(1, "gcp", 51820, seen),
        node(2, "azure", 51820, seen),
    ]));
    h.advance(1100 * MS);
    assert_eq!(h.applied.len(), applied + 1, "the Plan was sent again");
    // And then nothing more than usual.
    h.advance(4 * S);
    assert_eq!(h.applied.len(), applied + 1);
    assert_eq!(h.rewatches.len(), 1);
}

#[test]
fn a_resume_while_the_api_server_is_away_probes_at_once_and_restarts_the_backoff() {
    let mut h = three(0);
    h.api_up = false;
    h.advance(60 * S);
    assert!(!h.c.reachability().is_reachable());
    let Reachability::Unreachable { next_probe, .. } = h.c.reachability().clone() else {
        panic!("unreachable")
    };
    assert!(next_probe > h.now() + S, "backing off");
    h.api_up = true;
    h.c.handle_resume(600 * S, h.now());
    h.drive();
    let t = h.t;
    h.advance(MS);
    assert_eq!(
        h.probes.last(),
        Some(&t),
        "probed at the resume, not after the backoff"
    );
    assert!(h.c.reachability().is_reachable());
}

#[test]
fn a_node_that_stays_stale_sends_no_plan_per_heartbeat() {
    let mut h = three(0);
    // node-0 keeps sending heartbeats; the others stop and age out.
    for _ in 0..13 {
        h.advance(5 * S);
        h.change(ClusterChange::NodeApplied(node(0, "aws", 51820, h.api_now())));
    }
    assert_eq!(h.daemon_plan.as_ref().unwrap().cluster.ready_nodes, 1);
    let before = h.sent().len();
    // A minute more of heartbeats, stats and ticks while the two stay stale: nothing changed.
    for _ in 0..12 {
        h.advance(5 * S);
        h.change(ClusterChange::NodeApplied(node(0, "aws", 51820, h.api_now())));
        let plan = h.daemon_plan.clone().unwrap();
        let ages: Vec<(String, Option<u64>)> = crate::failover::segments(&plan)
            .into_iter()
            .map(|s| (s.peer, Some(3)))
            .collect();
        let ages: Vec<(&str, Option<u64>)> = ages.iter().map(|(p, a)| (p.as_str(), *a)).collect();
        h.stats(&ages);
    }
    let resent: Vec<_> = h.sent()[before..].iter().map(|p| p.cluster.clone()).collect();
    assert!(
        resent.is_empty(),
        "{} Plans re-sent in a minute with nothing changed: {resent:#?}",
        resent.len()
    );
}
