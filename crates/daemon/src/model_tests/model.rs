//! The daemon as the model test drives it: the real decisions, preparation and journal; the fake
//! tunnel. Mirrors `Daemon::handle` (apply, disconnect), `Daemon::network_changed` and a start.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::Plan;
use kubewire_core::lan_yield::{LocalNetwork, Withdrawn};
use kubewire_tunnel::{InterfaceSpec, Lookup, LookupFuture};

use super::fake::{FakeTunnel, Machine, Shared};
use super::{LANS, NAMES, Step, UIDS, the_plan};
use crate::apply::spec_of;
use crate::change::{journaled_change, journaled_create};
use crate::decide::{Held, Request, Transition, Wanted, decide};
use crate::persist::Journal;
use crate::prepare::prepare_for;

pub(super) struct ModelSession {
    name: String,
    owner_uid: u32,
    spec: InterfaceSpec,
    plan: Plan,
    requested: Plan,
    withdrawn: Vec<Withdrawn>,
    tunnel: FakeTunnel,
}

/// The daemon as the model drives it: the real decisions and journal, the fake tunnel.
pub(super) struct Model {
    world: Shared,
    journal: Journal,
    pub(super) session: Option<ModelSession>,
    lan: Vec<LocalNetwork>,
    _dir: tempfile::TempDir,
}

pub(super) fn no_lookup() -> Lookup {
    Arc::new(|name: String| -> LookupFuture { panic!("looked up {name}: the Plans have addresses") })
}

/// What the machine and the file hold: refusals must leave both as they were.
pub(super) type Snapshot = (Machine, Option<Vec<u8>>);

impl Model {
    pub(super) fn new() -> Self {
        // In memory when the machine has it: the journal fsyncs every write, thousands per run.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        Self {
            world: Shared::default(),
            journal: Journal::new(dir.path()),
            session: None,
            lan: Vec::new(),
            _dir: dir,
        }
    }

    pub(super) fn machine(&self) -> Machine {
        self.world.lock().unwrap().machine.clone()
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        (self.machine(), std::fs::read(self.journal.path()).ok())
    }

    /// Ran into its crash: the file is what the crash left (later writes of the step never
    /// happened), and everything on the machine is named by it.
    pub(super) fn crashed(&mut self) -> bool {
        let Some(bytes) = self.world.lock().unwrap().crashed.take() else {
            return false;
        };
        match &bytes {
            Some(b) => std::fs::write(self.journal.path(), b).unwrap(),
            None => {
                let _ = std::fs::remove_file(self.journal.path());
            }
        }
        let machine = self.machine();
        let named = self.journal.read().unwrap();
        if machine != Machine::default() {
            let named = named.unwrap_or_else(|| panic!("the crash left {machine:?} and no state file"));
            assert!(
                machine.interface.iter().all(|i| *i == named.interface),
                "the crash left {machine:?}, the file names {named:?}"
            );
            assert!(
                machine.routes.iter().all(|r| named.routes.contains(r)),
                "the crash left routes the file does not name: {machine:?} vs {named:?}"
            );
        }
        self.session = None;
        self.start();
        true
    }

    /// A start: undo what the file names, then delete it (`restore::restore` on the fake machine).
    pub(super) fn start(&mut self) {
        if let Some(state) = self.journal.read().unwrap() {
            let mut w = self.world.lock().unwrap();
            if w.machine.interface.as_deref() == Some(state.interface.as_str()) {
                w.machine.interface = None;
            }
            for r in &state.routes {
                w.machine.routes.remove(r);
            }
            drop(w);
            self.journal.nothing_live().unwrap();
        }
        assert_eq!(
            self.machine(),
            Machine::default(),
            "a start left something behind"
        );
    }

    pub(super) fn held(&self) -> Vec<Held<'_>> {
        self.session
            .iter()
            .map(|s| Held {
                name: &s.name,
                owner_uid: s.owner_uid,
                interface: &s.spec.name,
                spec: &s.spec,
                public_key: s.plan.interface.public_key,
                wedged: false,
                routes: &s.requested.routes,
            })
            .collect()
    }

    pub(super) async fn apply(&mut self, name: &str, uid: u32, requested: Plan) {
        let before = self.snapshot();
        let asked = (requested.interface.name.clone(), requested.routes.clone());
        let prepared = prepare_for(
            requested,
            &self.lan,
            Duration::ZERO,
            Duration::from_secs(1),
            &no_lookup(),
        )
        .await;
        let checked = prepared
            .as_ref()
            .map_err(|e| crate::error::DaemonError::PlanRefused(e.to_string()))
            .map(|p| Wanted {
                spec: spec_of(&p.plan, p.mtu.mtu),
                public_key: p.plan.interface.public_key,
            });
        let transition = decide(
            &self.held(),
            Request {
                name,
                uid,
                asks: crate::decide::Asks {
                    interface: &asked.0,
                    routes: &asked.1,
                },
                checked,
                disconnected_meanwhile: false,
            },
        );
        let prepared = match (transition, prepared) {
            (Transition::Refuse(_), _) | (_, Err(_)) => {
                assert_eq!(self.snapshot(), before, "a refused Plan changed something");
                return;
            }
            (t, Ok(p)) => (t, p),
        };
        let (transition, prepared) = prepared;
        if matches!(transition, Transition::Recreate) {
            let old = self.session.take().unwrap();
            if !old.tunnel.remove() {
                return;
            }
            // `create` clears what the file still names first (`restore::clear_leftover`).
            self.start();
        }
        if !matches!(transition, Transition::Update) {
            let spec = spec_of(&prepared.plan, prepared.mtu.mtu);
            let created = journaled_create(
                &self.journal,
                &spec,
                prepared.config.routes.iter().copied(),
                FakeTunnel::create(spec.name.clone(), self.world.clone(), self.journal.clone()),
            )
            .await;
            let Ok(tunnel) = created else { return };
            let owner_uid = uid;
            self.session = Some(ModelSession {
                name: name.to_owned(),
                owner_uid,
                spec,
                plan: prepared.plan.clone(),
                requested: prepared.requested.clone(),
                withdrawn: Vec::new(),
                tunnel,
            });
        }
        let session = self.session.as_mut().unwrap();
        if journaled_change(&mut session.tunnel, &self.journal, &prepared.config, None)
            .await
            .is_err()
        {
            return;
        }
        session.plan = prepared.plan;
        session.requested = prepared.requested;
        session.withdrawn = prepared.withdrawn;
    }

    pub(super) fn disconnect(&mut self) {
        match self.session.take() {
            None => self.start(),
            Some(s) => {
                if s.tunnel.remove() {
                    self.journal.nothing_live().unwrap();
                }
            }
        }
    }

    pub(super) async fn lan(&mut self, i: usize) {
        let net: IpNet = LANS[i].parse().unwrap();
        if let Some(at) = self.lan.iter().position(|l| l.net == net) {
            self.lan.remove(at);
        } else {
            self.lan.push(LocalNetwork {
                net,
                interface: Some(format!("lan{i}")),
            });
        }
        // `Daemon::network_changed`.
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if !crate::lan_yield::differs(&session.requested, &session.withdrawn, &self.lan) {
            return;
        }
        let requested = session.requested.clone();
        let Ok(prepared) = prepare_for(
            requested,
            &self.lan,
            Duration::ZERO,
            Duration::from_secs(1),
            &no_lookup(),
        )
        .await
        else {
            return;
        };
        let session = self.session.as_mut().unwrap();
        if journaled_change(&mut session.tunnel, &self.journal, &prepared.config, None)
            .await
            .is_ok()
        {
            session.plan = prepared.plan;
            session.withdrawn = prepared.withdrawn;
        }
    }

    pub(super) fn restart(&mut self) {
        self.session = None;
        self.start();
    }

    /// The invariants after a step that did not crash.
    pub(super) fn check(&self) {
        let machine = self.machine();
        let file = self.journal.read().unwrap();
        let Some(session) = &self.session else {
            assert_eq!(
                machine,
                Machine::default(),
                "no session, yet the machine has {machine:?}"
            );
            assert_eq!(file, None, "no session, yet the state file names {file:?}");
            return;
        };
        let file = file.unwrap_or_else(|| panic!("a session and no state file; machine {machine:?}"));
        assert_eq!(machine.interface.as_deref(), Some(file.interface.as_str()));
        let named: BTreeSet<IpNet> = file.routes.iter().copied().collect();
        assert_eq!(
            machine.routes, named,
            "the machine's routes are not what the file says is live"
        );
        let planned: BTreeSet<IpNet> = session.plan.routes.iter().copied().collect();
        assert_eq!(
            machine.routes, planned,
            "the machine's routes are not the session's Plan"
        );
        let private: Vec<IpNet> = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for r in &machine.routes {
            assert!(
                private.iter().any(|p| p.contains(r)),
                "{r} is routed and not private-use"
            );
            for l in &self.lan {
                assert!(
                    !(l.net.contains(r) || r.contains(&l.net)),
                    "{r} is routed though the local network {} overlaps it",
                    l.net
                );
            }
        }
    }

    pub(super) async fn run(&mut self, step: &Step, crash_in: Option<usize>) {
        self.world.lock().unwrap().crash_in = crash_in;
        match step {
            Step::Apply {
                name,
                uid,
                nodes,
                hostile,
                readdress,
            } => {
                self.apply(NAMES[*name], UIDS[*uid], the_plan(*nodes, *hostile, *readdress))
                    .await;
            }
            Step::Disconnect => self.disconnect(),
            Step::Lan(i) => self.lan(*i).await,
            Step::Restart => self.restart(),
        }
        self.world.lock().unwrap().crash_in = None;
        if !self.crashed() {
            self.check();
        }
    }
}
