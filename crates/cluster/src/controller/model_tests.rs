//! A model-based test of the pure controller (after Firezone's `tunnel_test`): proptest makes
//! sequences of cluster events (nodes join, leave, move their endpoint, go stale, change leader;
//! Peers come and go, some asking for public ranges; Namespaces come and go; the daemon reports fresh
//! or stale handshakes (failover); the API server goes and returns; a 410 makes
//! the watches re-list), daemon restarts and time passing. A tiny cluster (the truth) feeds the
//! controller through its watches while the API server is up; a tiny daemon holds the last Plan it
//! took (none after a restart) and checks each one with the core's policy as kubewired does. After
//! every step:
//! - every Plan the daemon was given passes the policy check (nothing outside the allowed ranges);
//! - while the controller knows the API server is away, the daemon's Plan stays (or is restored);
//! - once things settled with the daemon up, it holds the controller's Plan in force (a restart
//!   is recovered), and with the API server up too, that Plan equals a fresh
//!   [`kubewire_core::plan`] of the truth (the controller missed no change and invented none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubewire_core::{Plan, policy};
use proptest::prelude::*;

use super::model_world::{Op, World, op};
use super::{Daemon, same_plan};

/// Equal apart from when it was made (the time, and the ages in the not-ready reasons).
fn same_but_ages(a: &Plan, b: &Plan) -> bool {
    let strip = |p: &Plan| {
        let mut p = p.clone();
        p.cluster.now = 0;
        for s in &mut p.skipped {
            s.reason.retain(|c| !c.is_ascii_digit());
        }
        p
    };
    strip(a) == strip(b)
}

fn check(
    w: &mut World,
    op: &Op,
    before_unreachable: bool,
    held_before: Option<&Plan>,
) -> Result<(), TestCaseError> {
    // Nothing outside the allowed ranges, ever: the daemon's own check takes every Plan.
    for apply in w.h.applied.drain(..) {
        let checked = policy::check_received((*apply.plan).clone(), &w.request.local_networks);
        prop_assert!(checked.is_ok(), "a Plan the daemon refuses: {:?}", checked.err());
        for route in &apply.plan.routes {
            prop_assert!(
                !route.to_string().starts_with("9.9.9."),
                "a public range in a Plan: {route}"
            );
        }
    }
    // The API server away: the Plan stays (a daemon that restarted gets the same one back).
    if before_unreachable
        && !w.h.c.reachability().is_reachable()
        && let Some(now) = &w.h.daemon_plan
    {
        prop_assert!(
            held_before.is_some_and(|b| same_plan(b, now)),
            "the Plan changed while the API server was away ({op:?})"
        );
    }
    if let Some(plan) = &w.h.daemon_plan {
        w.last_held = Some(plan.clone());
    }
    if !matches!(op, Op::Settle) || !w.h.daemon_up {
        return Ok(());
    }
    // Settled with the daemon up: it holds the Plan in force (a restart is recovered).
    prop_assert!(
        matches!(w.h.c.daemon(), Daemon::Attached { .. }),
        "{:?}",
        w.h.c.daemon()
    );
    prop_assert_eq!(
        w.h.daemon_plan.as_ref(),
        w.h.c.plan_in_force(),
        "the daemon lacks the Plan in force"
    );
    if !w.h.api_up || !w.h.c.reachability().is_reachable() {
        return Ok(());
    }
    // And with the API server up, that Plan is a fresh plan of the cluster as it is.
    let now = w.h.api_now();
    match (w.fresh(now), &w.h.daemon_plan) {
        (Some(fresh), Some(held)) => prop_assert!(
            same_but_ages(&fresh, held),
            "the daemon's Plan is not a fresh plan of the cluster:\nheld:  {:?}\nfresh: {:?}",
            held,
            fresh
        ),
        (Some(_), None) => prop_assert!(false, "no Plan in force though the cluster has one"),
        // No ready node: the last Plan stays.
        (None, _) => {}
    }
    Ok(())
}

/// Runs `ops`, then brings everything back and lets it settle, checking after every step.
fn run(api_offset: i64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new(api_offset);
    for op in ops {
        let before_unreachable = !w.h.c.reachability().is_reachable();
        let held_before = w.h.daemon_plan.clone().or_else(|| w.last_held.clone());
        w.apply(op);
        check(&mut w, op, before_unreachable, held_before.as_ref())?;
    }
    // In the end, everything back and settled: the daemon follows the cluster.
    for op in [Op::ApiUp, Op::DaemonUp, Op::Settle, Op::Settle] {
        w.apply(&op);
        check(&mut w, &op, false, None)?;
    }
    prop_assert!(w.h.daemon_plan.is_some());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_controller_follows_the_cluster_through_outages_and_restarts(
        api_offset in -3600_i64..3600,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(api_offset, &ops)?;
    }
}

/// The shrunk failures proptest found (on the old re-list and on broken controllers while the
/// test was written), kept as plain cases: the seeds in `proptest-regressions/` replay the random
/// draws, these replay the sequences whatever the strategy becomes.
#[test]
fn the_shrunk_failures_stay_fixed() {
    let cases: Vec<Vec<Op>> = vec![
        // A node of the connect-time snapshot leaves while the API server is away.
        vec![Op::ApiDown, Op::Leave { i: 0 }],
        // A daemon restart is recovered.
        vec![Op::DaemonDown],
        // A change while both are away; the daemon back first gets the Plan in force, not a new one.
        vec![
            Op::DaemonDown,
            Op::Join { i: 3, location: 0 },
            Op::ApiDown,
            Op::Advance { ms: 10 },
            Op::DaemonUp,
            Op::Advance { ms: 10 },
        ],
        // A Namespace change reaches the Plan.
        vec![Op::NamespaceAdd { k: 2 }],
    ];
    for ops in cases {
        if let Err(e) = run(0, &ops) {
            panic!("{ops:?}: {e}");
        }
    }
}
