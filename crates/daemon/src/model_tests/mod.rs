//! The model test of the daemon's state (issue 19, item 9, the daemon's half): proptest-generated
//! sequences of Apply (two connection names, three callers, hostile Plans, changed interface
//! settings), Disconnect, local networks appearing and going, and restarts, each step possibly
//! crashing between any two changes to the machine. They run through the real [`decide`], the real
//! preparation (policy and LAN yield: [`prepare_for`]), the real [`Journal`] on a real file and the
//! real write-before-change protocol ([`journaled_create`], [`journaled_change`]), with a fake
//! tunnel over a fake machine (the kernel backend: what it adds outlives the process).
//!
//! After every step: the machine's routes are exactly what the state file says is live, and the
//! session's; nothing outside private-use ranges and nothing a local network overlaps is routed;
//! a refused Apply changes neither the machine nor the file's bytes. After a crash: everything on
//! the machine is named by the file as the crash left it, and the next start leaves nothing.
//! Shrunk failures are kept in `proptest-regressions/model_tests/mod.txt` and run first.

mod fake;
mod model;

use kubewire_core::Plan;
use proptest::prelude::*;

use crate::policy::tests::plan;
use fake::Machine;
use model::Model;

pub(super) const NAMES: [&str; 2] = ["prod", "staging"];
pub(super) const UIDS: [u32; 3] = [0, 1000, 1001];
/// Local networks that may appear: two overlap cluster ranges, one does not.
pub(super) const LANS: [&str; 3] = ["10.42.1.0/24", "10.42.2.0/25", "192.168.1.0/24"];

#[derive(Clone, Debug)]
pub(super) enum Step {
    Apply {
        name: usize,
        uid: usize,
        /// Which of four nodes the Plan has (bit k: node k+1).
        nodes: u8,
        /// A default route slipped in: the whole Plan is refused.
        hostile: bool,
        /// Another MTU: the interface is re-created.
        readdress: bool,
    },
    Disconnect,
    /// A local network appears or goes.
    Lan(usize),
    /// kill -9 at rest, then a start.
    Restart,
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..NAMES.len(), 0..UIDS.len(), 1u8..16, prop::bool::weighted(0.15), prop::bool::weighted(0.2))
            .prop_map(|(name, uid, nodes, hostile, readdress)| Step::Apply { name, uid, nodes, hostile, readdress }),
        1 => Just(Step::Disconnect),
        3 => (0..LANS.len()).prop_map(Step::Lan),
        1 => Just(Step::Restart),
    ]
}

pub(super) fn the_plan(nodes: u8, hostile: bool, readdress: bool) -> Plan {
    let names = ["node-1", "node-2", "node-3", "node-4"];
    let endpoints = [
        "192.0.2.1:51820",
        "192.0.2.2:51820",
        "192.0.2.3:51820",
        "192.0.2.4:51820",
    ];
    let ranges: [&[&str]; 4] = [
        &["10.4.0.1/32", "10.42.1.0/24"],
        &["10.4.0.2/32", "10.42.2.0/24"],
        &["10.4.0.3/32", "10.42.3.0/24"],
        &["10.4.0.4/32", "10.42.4.0/24", "10.43.0.0/16"],
    ];
    let mut chosen: Vec<(&str, &str, &[&str])> = (0..4)
        .filter(|k| nodes & (1 << k) != 0)
        .map(|k| (names[k], endpoints[k], ranges[k]))
        .collect();
    if hostile {
        // A default route in a peer's ranges: the daemon refuses the whole Plan.
        chosen.push(("evil", "192.0.2.9:51820", &["10.4.0.9/32", "0.0.0.0/0"]));
    }
    let mut p = plan(&chosen);
    if readdress {
        // Another laptop address: a new interface (the MTU is changed in place, not re-created).
        p.interface.address = "10.4.0.101/32".parse().unwrap();
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_with_crashes_keeps_the_machine_and_the_state_file_in_step(
        steps in prop::collection::vec((step(), prop::option::weighted(0.35, 0usize..8)), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut model = Model::new();
        for (step, crash_in) in &steps {
            runtime.block_on(model.run(step, *crash_in));
        }
        model.restart();
    }
}

#[test]
fn a_crash_between_the_route_changes_of_an_update_is_recovered() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut model = Model::new();
    let apply = |nodes| Step::Apply {
        name: 0,
        uid: 1,
        nodes,
        hostile: false,
        readdress: false,
    };
    runtime.block_on(model.run(&apply(0b0001), None));
    assert_eq!(model.machine().routes.len(), 2);
    // Two routes out, four in: die after the third change.
    runtime.block_on(model.run(&apply(0b1100), Some(3)));
    assert_eq!(
        model.machine(),
        Machine::default(),
        "the start after the crash left something"
    );
    assert!(model.session.is_none());
    runtime.block_on(model.run(&apply(0b1100), None));
    assert_eq!(model.machine().routes.len(), 5);
}

#[test]
fn a_refused_plan_and_a_second_name_change_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut model = Model::new();
    runtime.block_on(model.run(
        &Step::Apply {
            name: 0,
            uid: 1,
            nodes: 0b0011,
            hostile: false,
            readdress: false,
        },
        None,
    ));
    let before = model.snapshot();
    for step in [
        Step::Apply {
            name: 0,
            uid: 1,
            nodes: 0b0111,
            hostile: true,
            readdress: false,
        },
        Step::Apply {
            name: 1,
            uid: 1,
            nodes: 0b0111,
            hostile: false,
            readdress: false,
        },
        Step::Apply {
            name: 0,
            uid: 2,
            nodes: 0b0111,
            hostile: false,
            readdress: false,
        },
    ] {
        runtime.block_on(model.run(&step, None));
        assert_eq!(model.snapshot(), before, "{step:?} changed something");
    }
}
