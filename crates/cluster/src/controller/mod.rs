//! The connection controller: follows the cluster (Node, Peer and Namespace watches, a periodic probe of the API
//! server that also refreshes its clock), re-plans with the core on every relevant change (debounced)
//! and periodically (readiness depends on `last-seen` against the API server's clock), and hands a
//! Plan to the [`PlanSink`] only when it differs from the last one sent (ignoring `cluster.now`).
//! While the API server is unreachable the last Plan stays in force (re-planning would age every
//! node out); the controller says so and probes with backoff until it answers again. Per-peer
//! handshake ages from the daemon drive service gateway failover ([`crate::failover`]). When the
//! daemon goes away (its event stream closes: a crash, `systemctl restart`, a package upgrade) the
//! controller says so and, as soon as the daemon answers again, applies its Plan to it again: a
//! restarted daemon starts with no tunnel and the key is never on its disk, so the controller, which
//! holds the key and the Plan, restores the tunnel.
//!
//! The decisions live in a pure state machine, [`Controller`] (`state.rs`, with `reach.rs`,
//! `changes.rs`, `gateway.rs` and `restore.rs`): inputs with the time they happened at, outputs
//! polled. This file: configuration, status, the handle and `spawn`; `follow.rs`: the `select!`
//! shell that moves data between the watches, the daemon and the state.

use std::time::Duration;

use kubewire_core::{Plan, PlanRequest, PrivateKey, Snapshot};
use kubewire_ipc::SessionInfo;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::ApiClock;
use crate::daemon_events::DaemonSignal;
use crate::error::ClusterError;
use crate::events::ControllerEvent;
use crate::registration;
use crate::sink::PlanSink;

mod changes;
mod follow;
mod gateway;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod model_world;
mod reach;
mod restore;
mod resume;
mod state;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod testing;

pub use reach::Reachability;
pub use restore::{Daemon, Retry};
pub use state::{Apply, Command, Controller};

/// After the API server answers again, the watches catch up for this long before re-planning.
const RESUME_SETTLE: Duration = Duration::from_secs(1);

/// After a failed attempt to re-apply the Plan to a daemon that came back, the first wait.
const RESTORE_FIRST_RETRY: Duration = Duration::from_millis(500);

/// The quiet time after a Plan is sent (see [`ControllerConfig::debounce`]).
pub const QUIET_TIME: Duration = Duration::from_millis(25);

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The planner's request (address and Peer name already fixed).
    pub request: PlanRequest,
    /// The laptop's private key, handed to the sink with each Plan.
    pub private_key: PrivateKey,
    /// Who asks, for the daemon.
    pub session: SessionInfo,
    /// Quiet time after a Plan is sent: changes within it are coalesced into one re-plan at its
    /// end; a change after it is planned at once.
    pub debounce: Duration,
    /// Probe the API server and re-plan this often.
    pub replan_every: Duration,
    /// Longest wait between probes while the API server is unreachable.
    pub max_backoff: Duration,
    /// How long one probe may take.
    pub probe_timeout: Duration,
    /// Re-register the laptop's Peer when someone deletes it.
    pub registration: Option<Registration>,
    /// Delete the laptop's Peer at a disconnect (unless kept): false for a Peer an admin provided.
    pub owns_peer: bool,
    /// The preshared key the laptop shares with its Peer, handed to the sink with each Plan and put
    /// on the Peer when it is registered again.
    pub preshared_key: Option<kubewire_core::PresharedKey>,
}

/// What re-registering the laptop's Peer needs.
#[derive(Debug, Clone)]
pub struct Registration {
    /// User and host (labels).
    pub identity: registration::Identity,
    /// The laptop's address.
    pub address: ipnet::IpNet,
    /// The API server's clock (the Peer's last-connect stamp).
    pub clock: crate::clock::ApiClock,
}

impl ControllerConfig {
    /// Defaults: 25 ms quiet time after a Plan, re-plan every 5 s, probes back off up to 10 s.
    #[must_use]
    pub fn new(request: PlanRequest, private_key: PrivateKey, session: SessionInfo) -> Self {
        Self {
            request,
            private_key,
            session,
            debounce: QUIET_TIME,
            replan_every: Duration::from_secs(5),
            max_backoff: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(3),
            registration: None,
            owns_peer: true,
            preshared_key: None,
        }
    }
}

/// The controller's state, for `status` and the tray app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// Since when the daemon is gone (Unix seconds): stopped, crashed or restarting. The tunnel is
    /// restored when it answers again.
    pub daemon_lost_since: Option<u64>,
    /// Why the daemon is considered gone.
    pub daemon_error: Option<String>,
    /// The API server refused the credentials (401) while following: they expired or were
    /// revoked. Retrying does not help; signing in again (and connecting again) does.
    pub sign_in_needed: bool,
}

impl ControllerStatus {
    /// The daemon answers (as far as the controller knows).
    #[must_use]
    pub fn daemon_reachable(&self) -> bool {
        self.daemon_lost_since.is_none()
    }
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
    /// The daemon's statistics and comings and goings
    /// ([`crate::daemon_events::follow_daemon`], or a front end's own subscription).
    pub daemon: Option<mpsc::Receiver<DaemonSignal>>,
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
    let state = Controller::new(
        &config,
        start.snapshot,
        start.clock,
        start.applied,
        start.last_step.into_std(),
        Instant::now().into_std(),
    );
    let shell = follow::Shell {
        client: start.client,
        server: start.server,
        sink,
        events,
        status: status_tx,
        state,
        config,
        rewatch: false,
    };
    let task = tokio::spawn(shell.run(stop_rx, start.daemon));
    ControllerHandle {
        stop: Some(stop_tx),
        task,
        status: status_rx,
    }
}

/// Whether two Plans are the same apart from the time they were computed at.
#[must_use]
pub fn same_plan(a: &Plan, b: &Plan) -> bool {
    let mut b = b.clone();
    b.cluster.now = a.cluster.now;
    *a == b
}

pub(crate) use kubewire_ipc::time::unix_secs as unix;
