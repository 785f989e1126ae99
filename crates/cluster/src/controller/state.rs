//! The controller as a plain state machine, in the manner of Firezone's connlib: no client, no
//! sink, no clock. Inputs arrive through `handle_*` (a watch change, the daemon's statistics and
//! comings and goings, a probe's answer, an apply's answer, a timeout), each with the time it
//! happened at (`Instant` for deadlines, `SystemTime` for the API server's clock and for what the
//! user is shown); outputs leave through `poll_*`: [`Controller::poll_command`] (apply this Plan,
//! probe the API server, register the Peer again), [`Controller::poll_event`] (what the CLI and
//! the tray show), [`Controller::poll_timeout`] (when to call [`Controller::handle_timeout`] next)
//! and [`Controller::poll_status`]. The `select!` shell in `follow.rs` only moves data between the
//! kube watches, the daemon and this state; the tests drive it with fake time.
//!
//! This file: the state, its outputs and re-planning; `reach.rs`: the API server's reachability
//! and probes; `changes.rs`: watch changes; `gateway.rs`: statistics and failover;
//! `restore.rs`: the daemon's comings and goings.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use kubewire_core::{Plan, PlanError, PlanRequest, Planner, Snapshot};

use super::reach::Reachability;
use super::restore::Daemon;
use super::{ControllerConfig, ControllerStatus, same_plan, unix};
use crate::clock::ApiClock;
use crate::events::ControllerEvent;

/// What the shell is asked to do; each is answered through the matching `handle_*`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Hand this Plan to the daemon; answer with [`Controller::handle_applied`].
    Apply(Apply),
    /// Ask the API server for its clock; answer with [`Controller::handle_probe`].
    Probe,
    /// Register the laptop's Kilo Peer again (someone deleted it); answer with
    /// [`Controller::handle_registered`].
    Register,
    /// Drop the watches and start fresh ones, which list everything again (after a resume: the
    /// old connections may be dead without knowing it). Needs no answer.
    Rewatch,
}

/// One Plan to apply, handed back with its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    /// The Plan.
    pub plan: Box<Plan>,
    /// It is the Plan in force, applied again to a daemon that came back (not a new one).
    pub restore: bool,
}

/// The controller's timings (from [`ControllerConfig`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub(super) debounce: Duration,
    pub(super) replan_every: Duration,
    pub(super) max_backoff: Duration,
}

/// Where the service gateway is and where it was.
#[derive(Debug, Clone, Default)]
pub(super) struct Gateway {
    /// The user's choice (the request's setting).
    pub(super) user: Option<String>,
    /// The node failover put the service CIDR on, and why.
    pub(super) failover: Option<(String, String)>,
    /// The gateway's peer entry before any failover.
    pub(super) original: Option<String>,
}

/// The pure connection controller.
#[derive(Debug)]
pub struct Controller {
    /// The snapshot and the last Plan made from it.
    pub(super) planner: Planner,
    /// The request as configured (the user's gateway).
    pub(super) base_request: PlanRequest,
    pub(super) timing: Timing,
    /// Register the Peer again when it vanishes.
    pub(super) reregister: bool,
    pub(super) clock: ApiClock,
    /// The Nodes and Peers the watches (or the first snapshot) reported, to apply a re-list.
    pub(super) nodes: BTreeSet<String>,
    pub(super) peers: BTreeSet<String>,
    pub(super) refused_watches: BTreeSet<&'static str>,
    /// A watch was refused with 401: the credentials expired (said once).
    pub(super) sign_in_needed: bool,
    pub(super) reach: Reachability,
    /// A probe was asked for and is not answered yet.
    pub(super) probing: bool,
    /// Re-plan at this instant: at once for the first change of a burst, at the end of the quiet
    /// time for the changes that follow it.
    pub(super) debounce: Option<Instant>,
    /// The quiet time after the last re-plan: changes before it are coalesced into one re-plan
    /// at its end; a change after it is planned at once.
    pub(super) quiet_until: Option<Instant>,
    /// The Plan in force (last applied).
    pub(super) last_sent: Option<Plan>,
    /// The last apply failed: send the next Plan even if it is the same.
    pub(super) pending: bool,
    pub(super) last_plan_error: Option<String>,
    pub(super) last_error: Option<String>,
    pub(super) plan_sent_at: Option<u64>,
    pub(super) gateway: Gateway,
    /// Seconds since the last handshake per peer entry, from the daemon.
    pub(super) ages: BTreeMap<String, Option<u64>>,
    pub(super) up_since: Instant,
    pub(super) first_handshake: bool,
    pub(super) last_step: Instant,
    pub(super) daemon: Daemon,
    pub(super) commands: VecDeque<Command>,
    pub(super) events: VecDeque<ControllerEvent>,
    /// The status changed since the last [`Controller::poll_status`].
    pub(super) status_changed: bool,
}

impl Controller {
    /// A controller following `snapshot`, with `applied` in force (if any), started at `now`;
    /// `last_step` is when the previous connection step completed (for the first-handshake step).
    #[must_use]
    pub fn new(
        config: &ControllerConfig,
        snapshot: Snapshot,
        clock: ApiClock,
        applied: Option<Plan>,
        last_step: Instant,
        now: Instant,
    ) -> Self {
        let nodes = snapshot.nodes().map(|n| n.name.clone()).collect();
        let peers = snapshot
            .peers()
            .map(|p| p.name.clone())
            .chain(snapshot.ignored_peers().map(str::to_owned))
            .collect();
        let gateway = Gateway {
            user: config.request.settings.service_gateway.clone(),
            failover: None,
            original: applied
                .as_ref()
                .and_then(|p| p.service_gateway.as_ref())
                .map(|g| g.peer.clone()),
        };
        Self {
            planner: Planner::new(snapshot, config.request.clone()),
            base_request: config.request.clone(),
            timing: Timing {
                debounce: config.debounce,
                replan_every: config.replan_every,
                max_backoff: config.max_backoff,
            },
            reregister: config.registration.is_some(),
            clock,
            nodes,
            peers,
            refused_watches: BTreeSet::new(),
            sign_in_needed: false,
            reach: Reachability::Reachable {
                next_probe: now + config.replan_every,
            },
            probing: false,
            debounce: None,
            quiet_until: None,
            last_sent: applied,
            pending: false,
            last_plan_error: None,
            last_error: None,
            plan_sent_at: None,
            gateway,
            ages: BTreeMap::new(),
            up_since: now,
            first_handshake: false,
            last_step,
            daemon: Daemon::Attached { restore: None },
            commands: VecDeque::new(),
            events: VecDeque::new(),
            status_changed: false,
        }
    }

    /// The next thing the shell must do.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next thing the user should hear.
    pub fn poll_event(&mut self) -> Option<ControllerEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next (`None`: only an input wakes it).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let probe = (!self.probing).then(|| self.reach.next_probe());
        [self.debounce, probe, self.daemon.retry_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The status, when it changed since the last call.
    pub fn poll_status(&mut self) -> Option<ControllerStatus> {
        std::mem::take(&mut self.status_changed).then(|| self.status())
    }

    /// The status now.
    #[must_use]
    pub fn status(&self) -> ControllerStatus {
        let (daemon_lost_since, daemon_error) = match self.daemon.lost() {
            Some((wall, message)) => (Some(unix(wall)), Some(message.to_owned())),
            None => (None, None),
        };
        let unreachable_since = self.reach.since_wall().map(unix);
        ControllerStatus {
            reachable: unreachable_since.is_none(),
            unreachable_since,
            last_error: self.last_error.clone(),
            plan: self.last_sent.clone(),
            plan_sent_at: self.plan_sent_at,
            gateway_override: self.gateway.failover.clone(),
            warnings: self.last_plan_error.iter().cloned().collect(),
            daemon_lost_since,
            daemon_error,
            sign_in_needed: self.sign_in_needed,
        }
    }

    /// The Plan in force (the last one the daemon took).
    #[must_use]
    pub fn plan_in_force(&self) -> Option<&Plan> {
        self.last_sent.as_ref()
    }

    /// The cluster as the controller knows it.
    #[must_use]
    pub fn snapshot(&self) -> &Snapshot {
        self.planner.snapshot()
    }

    /// The request Plans are made for now (the failover's gateway included).
    #[must_use]
    pub fn request(&self) -> &PlanRequest {
        self.planner.request()
    }

    /// Time passed: re-plan after the quiet time, probe the API server, retry the daemon.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        if self.debounce.is_some_and(|at| at <= now) {
            self.debounce = None;
            let before = self.commands.len();
            self.replan(wall);
            // Only a Plan sent opens a quiet time: a heartbeat that changed nothing does not
            // hold up the next real change.
            if self.commands.len() > before {
                self.quiet_until = Some(now + self.timing.debounce);
            }
        }
        if !self.probing && self.reach.next_probe() <= now {
            self.probing = true;
            self.commands.push_back(Command::Probe);
        }
        self.restore_if_due(now);
    }

    /// The daemon's answer to [`Command::Apply`].
    pub fn handle_applied(
        &mut self,
        apply: Apply,
        result: Result<(), String>,
        now: Instant,
        wall: SystemTime,
    ) {
        if apply.restore {
            self.restored(*apply.plan, result, now, wall);
            return;
        }
        match result {
            Ok(()) => {
                let plan = *apply.plan;
                for message in crate::connect::public_refusals(&plan, self.last_sent.as_ref()) {
                    self.emit(ControllerEvent::Warning { message });
                }
                tracing::info!(
                    peers = plan.peers.len(),
                    routes = plan.routes.len(),
                    ready_nodes = plan.cluster.ready_nodes,
                    "plan sent"
                );
                self.emit(ControllerEvent::PlanSent {
                    peers: plan.peers.len(),
                    routes: plan.routes.len(),
                    ready_nodes: plan.cluster.ready_nodes,
                    gateway: plan.service_gateway.as_ref().map(|g| g.leader.clone()),
                });
                self.pending = false;
                self.last_sent = Some(plan);
                self.plan_sent_at = Some(unix(wall));
            }
            Err(message) => {
                tracing::info!(error = %message, "sending the plan failed; retrying");
                self.pending = true;
                self.emit(ControllerEvent::SinkFailed { message });
            }
        }
        self.status_changed = true;
    }

    /// The answer to [`Command::Register`].
    pub fn handle_registered(&mut self, result: Result<(), String>) {
        if let Err(message) = result {
            self.emit(ControllerEvent::Warning { message });
        }
    }

    pub(super) fn emit(&mut self, event: ControllerEvent) {
        self.events.push_back(event);
    }

    /// Plans at `wall` (on the API server's clock) and asks for the Plan to be applied when it
    /// differs from the one in force.
    pub(super) fn replan(&mut self, wall: SystemTime) {
        // The API server away: the last Plan stays. The daemon away: it gets the Plan when it is
        // back (restore), and then any newer one.
        if !self.reach.is_reachable() || self.daemon.lost().is_some() {
            return;
        }
        let now = self.clock.at(wall);
        let plan = match self.planner.plan(now) {
            Ok(plan) => plan.clone(),
            Err(error) => {
                let message = match &error {
                    PlanError::NoReadyNodes { total, .. } => {
                        format!("none of the {total} nodes is a ready Kilo node; keeping the last plan")
                    }
                    other => format!("{other}; keeping the last plan"),
                };
                if self.last_plan_error.as_ref() != Some(&message) {
                    tracing::info!(%message, "no new plan");
                    self.emit(ControllerEvent::Warning {
                        message: message.clone(),
                    });
                    self.last_plan_error = Some(message);
                    self.status_changed = true;
                }
                return;
            }
        };
        if self.last_plan_error.take().is_some() {
            self.status_changed = true;
        }
        if self.gateway.failover.is_none() {
            self.gateway.original = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        }
        if !self.pending && self.last_sent.as_ref().is_some_and(|last| same_plan(last, &plan)) {
            return;
        }
        self.commands.push_back(Command::Apply(Apply {
            plan: Box::new(plan),
            restore: false,
        }));
    }

    /// The request for the gateway in force (the failover's node, else the user's choice).
    pub(super) fn update_request(&mut self) {
        let mut request = self.base_request.clone();
        request.settings.service_gateway = self
            .gateway
            .failover
            .as_ref()
            .map(|(node, _)| node.clone())
            .or_else(|| self.gateway.user.clone());
        self.planner.set_request(request);
    }
}
