//! The connection controller: follows the cluster (Node and Peer watches, a periodic probe of the API
//! server that also refreshes its clock), re-plans with the core on every relevant change (debounced)
//! and periodically (readiness depends on `last-seen` against the API server's clock), and hands a
//! Plan to the [`PlanSink`] only when it differs from the last one sent (ignoring `cluster.now`).
//! While the API server is unreachable the last Plan stays in force (re-planning would age every
//! node out); the controller says so and probes with backoff until it answers again. Per-peer
//! handshake ages from the daemon drive service gateway failover ([`crate::failover`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use kubewire_core::{Plan, PlanError, PlanRequest, PrivateKey, Snapshot, plan};
use kubewire_ipc::{PeerStatus, SessionInfo};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::ApiClock;
use crate::discovery;
use crate::error::ClusterError;
use crate::events::{ControllerEvent, Step};
use crate::failover::{self, FailoverDecision, FailoverInput};
use crate::registration;
use crate::sink::{PlanSink, PlanUpdate};
use crate::watch::{ClusterChange, follow_nodes, follow_peers};

/// After the API server answers again, the watches catch up for this long before re-planning.
const RESUME_SETTLE: Duration = Duration::from_secs(1);

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The planner's request (address and Peer name already fixed).
    pub request: PlanRequest,
    /// The laptop's private key, handed to the sink with each Plan.
    pub private_key: PrivateKey,
    /// Who asks, for the daemon.
    pub session: SessionInfo,
    /// Quiet time after a change before re-planning.
    pub debounce: Duration,
    /// Probe the API server and re-plan this often.
    pub replan_every: Duration,
    /// Longest wait between probes while the API server is unreachable.
    pub max_backoff: Duration,
    /// How long one probe may take.
    pub probe_timeout: Duration,
    /// Re-register the laptop's Peer when someone deletes it.
    pub registration: Option<Registration>,
}

/// What re-registering the laptop's Peer needs.
#[derive(Debug, Clone)]
pub struct Registration {
    /// User and host (labels).
    pub identity: registration::Identity,
    /// The laptop's address.
    pub address: ipnet::IpNet,
}

impl ControllerConfig {
    /// Defaults: 100 ms debounce, re-plan every 5 s, probes back off up to 10 s.
    #[must_use]
    pub fn new(request: PlanRequest, private_key: PrivateKey, session: SessionInfo) -> Self {
        Self {
            request,
            private_key,
            session,
            debounce: Duration::from_millis(100),
            replan_every: Duration::from_secs(5),
            max_backoff: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(3),
            registration: None,
        }
    }
}

/// The controller's state, for `status` and the tray app.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControllerStatus {
    /// The API server answers.
    pub reachable: bool,
    /// Since when it does not (Unix seconds).
    pub unreachable_since: Option<u64>,
    /// The last error talking to it.
    pub last_error: Option<String>,
    /// The Plan in force (last sent).
    pub plan: Option<Plan>,
    /// When it was sent (Unix seconds).
    pub plan_sent_at: Option<u64>,
    /// The node failover put the service CIDR on, and why.
    pub gateway_override: Option<(String, String)>,
    /// Warnings (e.g. no ready node right now).
    pub warnings: Vec<String>,
}

/// How to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Take the tunnel down, and delete the Peer unless `keep_peer`.
    Disconnect {
        /// Keep the Kilo Peer registered.
        keep_peer: bool,
    },
    /// Stop following the cluster only: the tunnel stays with its last Plan (no longer updated).
    Detach,
}

/// A running controller.
#[derive(Debug)]
pub struct ControllerHandle {
    stop: Option<oneshot::Sender<StopMode>>,
    task: JoinHandle<Result<(), ClusterError>>,
    status: watch::Receiver<ControllerStatus>,
}

impl ControllerHandle {
    /// The live status.
    #[must_use]
    pub fn status(&self) -> watch::Receiver<ControllerStatus> {
        self.status.clone()
    }

    /// Stops and cleans up as `mode` says.
    pub async fn stop(mut self, mode: StopMode) -> Result<(), ClusterError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(mode);
        }
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ClusterError::Plan(format!("the controller task failed: {e}"))),
        }
    }
}

/// The inputs of a controller besides its configuration.
pub struct ControllerStart {
    /// The cluster.
    pub client: kube::Client,
    /// The API server URL.
    pub server: String,
    /// The snapshot so far (kube-dns already in it; the watches replace Nodes and Peers).
    pub snapshot: Snapshot,
    /// The API server's clock.
    pub clock: ApiClock,
    /// The Plan already applied, if any.
    pub applied: Option<Plan>,
    /// Per-peer statistics from the daemon.
    pub peer_stats: Option<mpsc::Receiver<Vec<PeerStatus>>>,
    /// When the previous step completed (for the first-handshake timing).
    pub last_step: Instant,
}

/// Starts a controller.
pub fn spawn<S: PlanSink>(
    start: ControllerStart,
    config: ControllerConfig,
    sink: S,
    events: mpsc::UnboundedSender<ControllerEvent>,
) -> ControllerHandle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let (status_tx, status_rx) = watch::channel(ControllerStatus {
        reachable: true,
        plan: start.applied.clone(),
        ..ControllerStatus::default()
    });
    let user_gateway = config.request.settings.service_gateway.clone();
    let original_gateway = start
        .applied
        .as_ref()
        .and_then(|p| p.service_gateway.as_ref())
        .map(|g| g.peer.clone());
    let controller = Controller {
        client: start.client,
        server: start.server,
        snapshot: start.snapshot,
        clock: start.clock,
        sink,
        events,
        status: status_tx,
        last_sent: start.applied,
        pending: false,
        unreachable_since: None,
        user_gateway,
        gateway_override: None,
        original_gateway,
        ages: BTreeMap::new(),
        up_since: Instant::now(),
        first_handshake: false,
        last_step: start.last_step,
        last_plan_error: None,
        nodes: BTreeSet::new(),
        peers: BTreeSet::new(),
        config,
    };
    let task = tokio::spawn(controller.run(stop_rx, start.peer_stats));
    ControllerHandle {
        stop: Some(stop_tx),
        task,
        status: status_rx,
    }
}

struct Controller<S> {
    client: kube::Client,
    server: String,
    snapshot: Snapshot,
    clock: ApiClock,
    sink: S,
    events: mpsc::UnboundedSender<ControllerEvent>,
    status: watch::Sender<ControllerStatus>,
    last_sent: Option<Plan>,
    pending: bool,
    unreachable_since: Option<(SystemTime, Instant)>,
    user_gateway: Option<String>,
    gateway_override: Option<(String, String)>,
    original_gateway: Option<String>,
    ages: BTreeMap<String, Option<u64>>,
    up_since: Instant,
    first_handshake: bool,
    last_step: Instant,
    last_plan_error: Option<String>,
    nodes: BTreeSet<String>,
    peers: BTreeSet<String>,
    config: ControllerConfig,
}

/// Whether two Plans are the same apart from the time they were computed at.
#[must_use]
pub fn same_plan(a: &Plan, b: &Plan) -> bool {
    let mut b = b.clone();
    b.cluster.now = a.cluster.now;
    *a == b
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: PlanSink> Controller<S> {
    async fn run(
        mut self,
        mut stop: oneshot::Receiver<StopMode>,
        mut stats: Option<mpsc::Receiver<Vec<PeerStatus>>>,
    ) -> Result<(), ClusterError> {
        let (tx, mut changes) = mpsc::channel(1024);
        let nodes = tokio::spawn(follow_nodes(self.client.clone(), tx.clone()));
        let peers = tokio::spawn(follow_peers(self.client.clone(), tx));
        let mut debounce: Option<Instant> = None;
        let mut next_probe = Instant::now() + self.config.replan_every;
        let mut backoff = Duration::from_secs(1);
        let mode = loop {
            tokio::select! {
                mode = &mut stop => break mode.unwrap_or(StopMode::Detach),
                Some(change) = changes.recv() => {
                    let peers_changed = matches!(change, ClusterChange::PeersListed(_) | ClusterChange::PeerDeleted(_));
                    if self.handle_change(change) {
                        if peers_changed {
                            self.reregister_if_gone().await;
                        }
                        debounce.get_or_insert_with(|| Instant::now() + self.config.debounce);
                    } else if self.unreachable_since.is_none() {
                        // A failing watch: probe now to tell a dead API server from a passing error.
                        next_probe = next_probe.min(Instant::now());
                    }
                }
                () = sleep_until_opt(debounce) => {
                    debounce = None;
                    self.replan().await;
                }
                () = tokio::time::sleep_until(next_probe) => {
                    let was_unreachable = self.unreachable_since.is_some();
                    if self.probe().await {
                        backoff = Duration::from_secs(1);
                        next_probe = Instant::now() + self.config.replan_every;
                        if was_unreachable {
                            // Give the watches a moment to catch up before planning again.
                            debounce = Some(Instant::now() + RESUME_SETTLE);
                        } else if debounce.is_none() {
                            self.replan().await;
                        }
                    } else {
                        next_probe = Instant::now() + backoff;
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
                update = recv_opt(&mut stats) => match update {
                    Some(peers) => {
                        if self.handle_stats(&peers) {
                            self.replan().await;
                        }
                    }
                    None => stats = None,
                },
            }
        };
        nodes.abort();
        peers.abort();
        self.finish(mode).await
    }

    async fn finish(mut self, mode: StopMode) -> Result<(), ClusterError> {
        let result = match mode {
            StopMode::Detach => Ok(()),
            StopMode::Disconnect { keep_peer } => {
                let down = self
                    .sink
                    .disconnect()
                    .await
                    .map_err(|e| ClusterError::Plan(format!("taking the tunnel down: {e}")));
                let peer = match (&self.config.request.peer_name, keep_peer) {
                    (Some(name), false) => registration::unregister(&self.client, name).await,
                    _ => Ok(()),
                };
                down.and(peer)
            }
        };
        self.emit(ControllerEvent::Stopped);
        result
    }

    fn emit(&self, event: ControllerEvent) {
        let _ = self.events.send(event);
    }

    fn publish(&self) {
        let unreachable_since = self.unreachable_since.map(|(t, _)| unix(t));
        self.status.send_modify(|s| {
            s.reachable = unreachable_since.is_none();
            s.unreachable_since = unreachable_since;
            s.plan.clone_from(&self.last_sent);
            s.gateway_override.clone_from(&self.gateway_override);
            s.warnings = self.last_plan_error.iter().cloned().collect();
        });
    }

    /// Applies a watch change to the snapshot; `true` if it may change the Plan.
    fn handle_change(&mut self, change: ClusterChange) -> bool {
        match change {
            ClusterChange::NodesListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|n| n.name.clone()).collect();
                for gone in self.nodes.difference(&names) {
                    self.snapshot.remove_node(gone);
                }
                list.iter().for_each(|n| self.snapshot.upsert_node(n));
                self.nodes = names;
            }
            ClusterChange::NodeApplied(n) => {
                self.nodes.insert(n.name.clone());
                self.snapshot.upsert_node(&n);
            }
            ClusterChange::NodeDeleted(name) => {
                self.nodes.remove(&name);
                self.snapshot.remove_node(&name);
            }
            ClusterChange::PeersListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|p| p.name.clone()).collect();
                for gone in self.peers.difference(&names) {
                    self.snapshot.remove_peer(gone);
                }
                list.iter().for_each(|p| self.snapshot.upsert_peer(p));
                self.peers = names;
            }
            ClusterChange::PeerApplied(p) => {
                self.peers.insert(p.name.clone());
                self.snapshot.upsert_peer(&p);
            }
            ClusterChange::PeerDeleted(name) => {
                self.peers.remove(&name);
                self.snapshot.remove_peer(&name);
            }
            ClusterChange::Expired { resource } => {
                self.emit(ControllerEvent::Relisted {
                    resource: resource.to_owned(),
                });
                return false;
            }
            ClusterChange::WatchFailed { resource, message } => {
                tracing::debug!(resource, %message, "watch failed");
                self.status.send_modify(|s| s.last_error = Some(message));
                return false;
            }
        }
        true
    }

    /// Registers the laptop's Peer again when it vanished from the cluster (deleted by someone).
    async fn reregister_if_gone(&mut self) {
        let (Some(name), Some(reg)) = (&self.config.request.peer_name, &self.config.registration) else {
            return;
        };
        if self.peers.contains(name) {
            return;
        }
        let message =
            format!("the laptop's Kilo Peer {name} was deleted in the cluster; registering it again");
        tracing::info!(peer = %name, "Peer deleted in the cluster; registering it again");
        self.emit(ControllerEvent::Warning { message });
        let result = registration::register(
            &self.client,
            name,
            &reg.identity,
            &self.config.request.public_key,
            reg.address,
            self.config.request.settings.persistent_keepalive,
        )
        .await;
        if let Err(error) = result {
            self.emit(ControllerEvent::Warning {
                message: error.to_string(),
            });
        }
    }

    /// Probes the API server (refreshing its clock); `true` if it answered.
    async fn probe(&mut self) -> bool {
        let answer = tokio::time::timeout(
            self.config.probe_timeout,
            discovery::probe(&self.client, &self.server),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ClusterError::Unreachable {
                url: self.server.clone(),
                message: "no answer in time".into(),
            })
        });
        match answer {
            Ok(clock) => {
                self.clock = clock;
                if let Some((_, since)) = self.unreachable_since.take() {
                    tracing::info!(
                        after_secs = since.elapsed().as_secs(),
                        "cluster API reachable again"
                    );
                    self.emit(ControllerEvent::Reachable {
                        after: since.elapsed(),
                    });
                    self.publish();
                }
                true
            }
            Err(error) => {
                let message = error.to_string();
                if self.unreachable_since.is_none() {
                    let since = SystemTime::now();
                    tracing::info!(%message, "cluster API unreachable; keeping the last plan and retrying");
                    self.unreachable_since = Some((since, Instant::now()));
                    self.emit(ControllerEvent::Unreachable {
                        since,
                        message: message.clone(),
                    });
                }
                self.status.send_modify(|s| s.last_error = Some(message));
                self.publish();
                false
            }
        }
    }

    fn request(&self) -> PlanRequest {
        let mut request = self.config.request.clone();
        request.settings.service_gateway = self
            .gateway_override
            .as_ref()
            .map(|(node, _)| node.clone())
            .or_else(|| self.user_gateway.clone());
        request
    }

    async fn replan(&mut self) {
        if self.unreachable_since.is_some() {
            return;
        }
        let now = self.clock.now_unix();
        let plan = match plan(&self.snapshot, &self.request(), now) {
            Ok(plan) => plan,
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
                    self.publish();
                }
                return;
            }
        };
        self.last_plan_error = None;
        if self.gateway_override.is_none() {
            self.original_gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        }
        if !self.pending && self.last_sent.as_ref().is_some_and(|last| same_plan(last, &plan)) {
            return;
        }
        let update = PlanUpdate {
            plan,
            private_key: self.config.private_key.clone(),
            session: self.config.session.clone(),
        };
        match self.sink.apply(&update).await {
            Ok(()) => {
                let plan = update.plan;
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
                self.status
                    .send_modify(|s| s.plan_sent_at = Some(unix(SystemTime::now())));
            }
            Err(error) => {
                tracing::info!(%error, "sending the plan failed; retrying");
                self.pending = true;
                self.emit(ControllerEvent::SinkFailed {
                    message: error.to_string(),
                });
            }
        }
        self.publish();
    }

    /// Takes per-peer stats; `true` if the gateway moved (re-plan).
    fn handle_stats(&mut self, peers: &[PeerStatus]) -> bool {
        self.ages = peers
            .iter()
            .map(|p| (p.name.clone(), p.last_handshake_secs))
            .collect();
        if !self.first_handshake && peers.iter().any(|p| p.last_handshake_secs.is_some()) {
            self.first_handshake = true;
            let detail = peers
                .iter()
                .find(|p| p.last_handshake_secs.is_some())
                .map(|p| p.name.clone())
                .unwrap_or_default();
            self.emit(ControllerEvent::Step {
                step: Step::FirstHandshake,
                took: self.last_step.elapsed(),
                detail,
            });
        }
        let Some(plan) = &self.last_sent else {
            return false;
        };
        let segments = failover::segments(plan);
        let gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        let decision = failover::decide(&FailoverInput {
            segments: &segments,
            gateway: gateway.as_deref(),
            original: self.original_gateway.as_deref(),
            handshake_ages: &self.ages,
            current_override: self.gateway_override.as_ref().map(|(n, _)| n.as_str()),
            up_for: self.up_since.elapsed(),
        });
        let from = plan.service_gateway.as_ref().map(|g| g.leader.clone());
        match decision {
            FailoverDecision::Keep => false,
            FailoverDecision::MoveTo { node, reason, .. } => {
                tracing::info!(from = ?from, to = %node, %reason, "service gateway failover");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: Some(node.clone()),
                    reason: reason.clone(),
                });
                self.gateway_override = Some((node, reason));
                true
            }
            FailoverDecision::Restore { reason } => {
                tracing::info!(from = ?from, %reason, "service gateway back to the original");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: self.user_gateway.clone(),
                    reason,
                });
                self.gateway_override = None;
                true
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
