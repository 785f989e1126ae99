//! The tray's state, sans IO: the daemon's status, the controller's events and errors go in; the
//! phase, the [`AppState`] the window shows, the tray icon, its tooltip and menu, and the
//! notifications worth showing come out. Time is an input (`now`, Unix seconds).

use kubewire_cluster::ControllerEvent;
use kubewire_cluster::events::Step;
use kubewire_core::Plan;
use kubewire_ipc::{PeerStatus, Status, TunnelState};

use crate::topology;
use crate::types::{
    AppState, ContextInfo, DnsInfo, ErrorKind, NetworkNote, Phase, StepProgress, StepState, UiError,
};

/// The steps of connecting, in order.
pub const STEPS: [Step; 8] = [
    Step::Kubeconfig,
    Step::ApiReachable,
    Step::KiloPresent,
    Step::Key,
    Step::PeerRegistered,
    Step::Planned,
    Step::Applied,
    Step::FirstHandshake,
];

/// The tray icon for a phase (one PNG each in `icons/tray-<name>.png`).
pub type TrayIcon = Phase;

/// A notification worth interrupting the user for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The tunnel is up.
    Connected { context: String },
    /// The tunnel is down.
    Disconnected,
    /// The service gateway failed over (or back).
    GatewayFailover {
        from: Option<String>,
        to: Option<String>,
        reason: String,
    },
    /// Something went wrong: what, and what to do about it.
    Error {
        title: String,
        message: String,
        fix: String,
    },
}

impl Notice {
    /// Title and body.
    #[must_use]
    pub fn text(&self) -> (String, String) {
        match self {
            Self::Connected { context } => ("kubewire connected".into(), format!("Connected to {context}")),
            Self::Disconnected => ("kubewire disconnected".into(), "The tunnel is down".into()),
            Self::GatewayFailover { from, to, reason } => (
                "kubewire: service gateway moved".into(),
                format!(
                    "Services now go through {} (was {}): {reason}",
                    to.as_deref().unwrap_or("the default segment"),
                    from.as_deref().unwrap_or("the default segment")
                ),
            ),
            Self::Error { title, message, fix } => {
                (format!("kubewire: {title}"), format!("{message}\n{fix}"))
            }
        }
    }
}

/// One item of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    /// What clicking it does.
    pub action: MenuAction,
    /// Its text.
    pub label: String,
    /// Clickable.
    pub enabled: bool,
    /// Marked (the current context).
    pub checked: bool,
}

/// What a menu item does; its id is [`MenuAction::id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// The status line (does nothing).
    Status,
    /// Connect to this kubeconfig context.
    Connect(String),
    Disconnect,
    Open,
    /// Quit (no tunnel up).
    Quit,
    /// Take the tunnel down, then quit.
    QuitDisconnect,
    /// Quit and leave the tunnel up with its last Plan (no longer followed).
    QuitKeep,
    /// Connect again to the context in use, which runs the kubeconfig's login (its credentials
    /// expired).
    SignIn,
    /// A line between groups.
    Separator,
}

impl MenuAction {
    /// The menu item's id.
    #[must_use]
    pub fn id(&self) -> String {
        match self {
            Self::Status => "status".into(),
            Self::Connect(context) => format!("connect:{context}"),
            Self::Disconnect => "disconnect".into(),
            Self::Open => "open".into(),
            Self::Quit => "quit".into(),
            Self::QuitDisconnect => "quit:disconnect".into(),
            Self::QuitKeep => "quit:keep".into(),
            Self::SignIn => "sign-in".into(),
            Self::Separator => "separator".into(),
        }
    }

    /// The action of a menu item's id.
    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        match id {
            "disconnect" => Some(Self::Disconnect),
            "open" => Some(Self::Open),
            "quit" => Some(Self::Quit),
            "quit:disconnect" => Some(Self::QuitDisconnect),
            "quit:keep" => Some(Self::QuitKeep),
            "sign-in" => Some(Self::SignIn),
            other => other
                .strip_prefix("connect:")
                .map(|c| Self::Connect(c.to_owned())),
        }
    }
}

/// What the connection knew when `connect` returned.
#[derive(Debug, Clone)]
pub struct Connected {
    pub context: String,
    pub server: String,
    pub plan: Plan,
}

/// The tray's state.
#[derive(Debug, Clone, Default)]
pub struct TrayModel {
    state: AppState,
    /// A connect is in progress.
    connecting: bool,
    /// The daemon's last status (None: never reached).
    daemon: Option<Status>,
    /// Per-peer statistics, newest.
    peers: Vec<PeerStatus>,
    /// The Plan in force, from the controller.
    plan: Option<Plan>,
    /// The app's own controller runs.
    following: bool,
    /// The daemon went away while the app's controller follows: it restarts, and the controller
    /// applies the Plan again when it answers.
    daemon_restarting: bool,
    /// When the last step completed (its timing is in the event).
    now: u64,
}

fn fresh_steps() -> Vec<StepState> {
    STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| StepState {
            id: step_id(*s).into(),
            label: s.label().to_owned(),
            state: if i == 0 {
                StepProgress::Running
            } else {
                StepProgress::Pending
            },
            ms: None,
            detail: None,
        })
        .collect()
}

/// The contract's id of a step.
#[must_use]
pub const fn step_id(step: Step) -> &'static str {
    match step {
        Step::Kubeconfig => "kubeconfig",
        Step::ApiReachable => "api-reachable",
        Step::KiloPresent => "kilo-present",
        Step::Key => "key",
        Step::PeerRegistered => "peer-registered",
        Step::Planned => "planned",
        Step::Applied => "applied",
        Step::FirstHandshake => "first-handshake",
    }
}

impl TrayModel {
    /// Nothing known yet (the daemon not asked).
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: AppState {
                api_reachable: true,
                ..AppState::default()
            },
            ..Self::default()
        }
    }

    /// What the window shows.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.state.phase
    }

    /// A connect is running.
    #[must_use]
    pub fn is_connecting(&self) -> bool {
        self.connecting
    }

    /// The tunnel is up (by the daemon's word).
    #[must_use]
    pub fn tunnel_up(&self) -> bool {
        self.daemon
            .as_ref()
            .is_some_and(|s| s.state != TunnelState::Disconnected)
    }

    /// The app's own controller follows the cluster.
    #[must_use]
    pub fn following(&self) -> bool {
        self.following
    }

    /// The user asked to connect.
    pub fn connect_started(&mut self, context: Option<String>, now: u64) {
        self.now = now;
        self.connecting = true;
        self.state.error = None;
        self.state.steps = fresh_steps();
        if context.is_some() {
            self.state.context = context;
        }
        self.refresh();
    }

    /// One of the controller's events.
    pub fn controller_event(&mut self, event: &ControllerEvent, now: u64) -> Vec<Notice> {
        self.now = now;
        let mut notices = Vec::new();
        match event {
            ControllerEvent::Step { step, took, detail } => {
                let index = STEPS.iter().position(|s| s == step);
                if let Some(i) = index {
                    if let Some(s) = self.state.steps.get_mut(i) {
                        s.state = StepProgress::Done;
                        s.ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
                        s.detail = Some(detail.clone());
                    }
                    if let Some(next) = self.state.steps.get_mut(i + 1)
                        && next.state == StepProgress::Pending
                    {
                        next.state = StepProgress::Running;
                    }
                }
            }
            ControllerEvent::PlanSent { gateway, .. } => {
                if gateway.is_some() {
                    self.state.gateway.clone_from(gateway);
                }
            }
            ControllerEvent::Unreachable { message, .. } => {
                self.state.api_reachable = false;
                self.warn(format!(
                    "cluster API unreachable, retrying (the tunnel keeps its last plan): {message}"
                ));
            }
            ControllerEvent::Reachable { .. } => {
                self.state.api_reachable = true;
                self.state
                    .warnings
                    .retain(|w| !w.starts_with("cluster API unreachable"));
            }
            ControllerEvent::GatewayMoved { from, to, reason } => {
                notices.push(Notice::GatewayFailover {
                    from: from.clone(),
                    to: to.clone(),
                    reason: reason.clone(),
                });
            }
            ControllerEvent::Warning { message } => self.warn(message.clone()),
            ControllerEvent::SignInNeeded { message } => {
                let context = self.state.context.clone().unwrap_or_default();
                notices.extend(self.error(crate::errors::sign_in_needed(&context, message)));
            }
            ControllerEvent::WaitingForSignIn { command } => {
                self.warn(format!(
                    "waiting for you to sign in: the credential plugin `{command}` may have opened a \
                     browser"
                ));
            }
            ControllerEvent::SinkFailed { message } => {
                self.warn(format!("applying the plan failed (retrying): {message}"));
            }
            ControllerEvent::DaemonLost { .. } => self.daemon_restarting = self.following,
            ControllerEvent::DaemonBack { .. }
            | ControllerEvent::Relisted { .. }
            | ControllerEvent::ClusterDomainFound { .. } => {}
            ControllerEvent::Stopped => {
                self.following = false;
                self.daemon_restarting = false;
            }
        }
        self.refresh();
        notices
    }

    fn warn(&mut self, message: String) {
        if !self.state.warnings.contains(&message) {
            self.state.warnings.push(message);
        }
        let excess = self.state.warnings.len().saturating_sub(20);
        self.state.warnings.drain(..excess);
    }

    /// `connect` returned: the tunnel is up and the controller follows the cluster.
    pub fn connected(&mut self, connected: Connected, now: u64) -> Vec<Notice> {
        self.now = now;
        self.connecting = false;
        self.state.sign_in_needed = false;
        if self
            .state
            .error
            .as_ref()
            .is_some_and(|e| e.kind == ErrorKind::SignIn)
        {
            self.state.error = None;
        }
        self.following = true;
        self.state.api_reachable = true;
        self.state.context = Some(connected.context.clone());
        self.state.cluster = Some(connected.server);
        self.plan = Some(connected.plan);
        self.refresh();
        vec![Notice::Connected {
            context: connected.context,
        }]
    }

    /// Connecting failed.
    pub fn connect_failed(&mut self, error: UiError, now: u64) -> Vec<Notice> {
        self.now = now;
        self.connecting = false;
        for s in &mut self.state.steps {
            if s.state == StepProgress::Running {
                s.state = StepProgress::Failed;
                s.detail = Some(error.title.clone());
            }
        }
        self.error(error)
    }

    /// An error to show (and notify once).
    pub fn error(&mut self, error: UiError) -> Vec<Notice> {
        let new = self.state.error.as_ref() != Some(&error);
        if error.kind == ErrorKind::SignIn {
            self.state.sign_in_needed = true;
        }
        let notice = Notice::Error {
            title: error.title.clone(),
            message: error.message.clone(),
            fix: error.fix.clone(),
        };
        self.state.error = Some(error);
        self.refresh();
        if new { vec![notice] } else { Vec::new() }
    }

    /// The user dismissed the error (or retried).
    pub fn clear_error(&mut self) {
        self.state.error = None;
        self.refresh();
    }

    /// The controller's Plan in force changed.
    pub fn plan(&mut self, plan: Option<Plan>) {
        if plan.is_some() {
            self.plan = plan;
            self.refresh();
        }
    }

    /// The controller's view of the API server.
    pub fn api_reachable(&mut self, reachable: bool) {
        self.state.api_reachable = reachable;
        self.refresh();
    }

    /// The daemon's status (on subscribing and on every change).
    pub fn daemon_status(&mut self, status: Status, now: u64) -> Vec<Notice> {
        self.now = now;
        let was_up = self.tunnel_up();
        let was_unreachable = self
            .state
            .error
            .as_ref()
            .is_some_and(|e| e.kind == ErrorKind::DaemonUnreachable);
        self.state.daemon_reachable = true;
        if was_unreachable {
            self.state.error = None;
        }
        self.peers.clone_from(&status.peers);
        if let Some(session) = &status.session {
            self.state.context = Some(session.context.clone());
            self.state.cluster = Some(session.cluster.clone());
        }
        let up = status.state != TunnelState::Disconnected;
        self.daemon = Some(status);
        if up {
            self.daemon_restarting = false;
        }
        let mut notices = Vec::new();
        if was_up && !up && !self.connecting {
            self.following = false;
            self.plan = None;
            self.state.warnings.clear();
            notices.push(Notice::Disconnected);
        }
        self.refresh();
        notices
    }

    /// Per-peer statistics.
    pub fn peer_stats(&mut self, peers: Vec<PeerStatus>, now: u64) {
        self.now = now;
        self.peers = peers;
        self.refresh();
    }

    /// The daemon's connection closed (it stopped, crashed or restarts). While the app's controller
    /// follows, that is a restart to wait for (the controller restores the tunnel), not a disconnect.
    pub fn daemon_lost(&mut self, now: u64) -> Vec<Notice> {
        self.now = now;
        if self.following {
            self.daemon_restarting = true;
            self.state.daemon_reachable = false;
            self.daemon = None;
            self.peers.clear();
            self.refresh();
        }
        Vec::new()
    }

    /// The daemon cannot be reached.
    pub fn daemon_unreachable(&mut self, error: UiError, now: u64) -> Vec<Notice> {
        self.now = now;
        self.daemon_restarting = self.following;
        self.state.daemon_reachable = false;
        self.daemon = None;
        self.peers.clear();
        self.error(error)
    }

    /// The app's controller stopped (disconnect or detach).
    pub fn stopped_following(&mut self) {
        self.following = false;
        self.daemon_restarting = false;
        self.connecting = false;
        self.refresh();
    }

    /// Recomputes everything derived.
    fn refresh(&mut self) {
        let status = self.daemon.as_ref();
        let up = self.tunnel_up();
        self.state.controller_attached = status.is_some_and(|s| s.controller_attached);
        self.state.laptop_address = status.and_then(|s| s.address).map(|a| a.to_string()).or_else(|| {
            (self.connecting || up)
                .then(|| self.plan.as_ref().map(|p| p.interface.address.to_string()))
                .flatten()
        });
        self.state.connected_since = status.and_then(|s| s.connected_since);
        self.state.exposed = status
            .map(|s| {
                s.exposed
                    .iter()
                    .map(|p| crate::types::ExposedRow {
                        service: p.service.clone(),
                        port: p.port,
                        protocol: p.protocol.as_str().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if up {
            // The node (segment leader) carrying the service CIDR; the daemon names the segment.
            self.state.gateway = self
                .plan
                .as_ref()
                .and_then(|p| p.service_gateway.as_ref().map(|g| g.leader.clone()))
                .or_else(|| status.and_then(|s| s.service_gateway.clone()));
        } else if !self.connecting {
            self.state.gateway = None;
        }
        let plan = if up { self.plan.as_ref() } else { None };
        self.state.nodes = topology::nodes(plan, &self.peers, self.state.gateway.as_deref());
        self.state.topology = topology::topology(
            plan,
            &self.peers,
            self.state.laptop_address.clone(),
            self.state.gateway.as_deref(),
        );
        self.state.dns = plan.map(|p| DnsInfo {
            zone: p.dns.zone.clone(),
            search_suffixes: p.dns.search.clone(),
            server: status
                .and_then(|s| s.dns_server)
                .or(p.dns.server)
                .map_or_else(|| "none".into(), |a| a.to_string()),
            backend: if status.and_then(|s| s.dns_server).is_some() {
                "kubewired split DNS (system resolver)".into()
            } else {
                "not configured".into()
            },
        });
        let shown = status.filter(|_| up);
        self.state.network = shown.and_then(|s| s.network_event.as_ref()).map(|e| NetworkNote {
            at: e.at,
            text: e.to_string(),
        });
        self.state.mtu = shown.and_then(|s| s.mtu).map(|m| m.to_string());
        if up && let Some(s) = status {
            for w in &s.warnings {
                if !self.state.warnings.contains(w) {
                    self.state.warnings.push(w.clone());
                }
            }
        }
        self.state.phase = self.compute_phase();
    }

    fn compute_phase(&self) -> Phase {
        if self.connecting {
            return Phase::Connecting;
        }
        if self.following && self.daemon_restarting {
            return Phase::Degraded;
        }
        let Some(status) = self
            .daemon
            .as_ref()
            .filter(|s| s.state != TunnelState::Disconnected)
        else {
            return if self.state.error.is_some() {
                Phase::Error
            } else {
                Phase::Disconnected
            };
        };
        // The daemon judged the peers' health (kubewire_ipc::health) and the tunnel's state: the
        // tray shows that, and does not judge handshake ages again.
        if status.state == TunnelState::Degraded || (self.following && !self.state.api_reachable) {
            Phase::Degraded
        } else {
            Phase::Connected
        }
    }

    /// The tray icon.
    #[must_use]
    pub fn icon(&self) -> TrayIcon {
        self.state.phase
    }

    /// The one-line status.
    #[must_use]
    pub fn status_line(&self) -> String {
        let s = &self.state;
        match s.phase {
            Phase::Disconnected => "disconnected".into(),
            Phase::Connecting => {
                let step = s
                    .steps
                    .iter()
                    .find(|st| st.state == StepProgress::Running)
                    .map_or("starting", |st| st.label.as_str());
                format!("connecting: {step}…")
            }
            Phase::Connected => {
                let n = self.peers.len();
                let mut line = format!("connected, {n} segment{}", if n == 1 { "" } else { "s" });
                if !s.controller_attached {
                    line.push_str(" (not following the cluster)");
                }
                line
            }
            Phase::Degraded => {
                if self.following && self.daemon_restarting {
                    "degraded: kubewired restarting; the tunnel comes back when it answers".into()
                } else if self.following && !s.api_reachable {
                    "degraded: cluster API unreachable".into()
                } else {
                    let bad: Vec<&str> = self
                        .peers
                        .iter()
                        .filter(|p| !p.health().is_ok())
                        .map(|p| p.name.as_str())
                        .collect();
                    if bad.is_empty() {
                        "degraded".into()
                    } else {
                        format!("degraded: no handshake with {}", bad.join(", "))
                    }
                }
            }
            Phase::Error => format!(
                "error: {}",
                s.error.as_ref().map_or("unknown", |e| e.title.as_str())
            ),
        }
    }

    /// The tooltip: the context and the one-line status.
    #[must_use]
    pub fn tooltip(&self) -> String {
        match &self.state.context {
            Some(context) => format!("kubewire · {context}\n{}", self.status_line()),
            None => format!("kubewire\n{}", self.status_line()),
        }
    }

    /// The tray menu for these kubeconfig contexts.
    #[must_use]
    pub fn menu(&self, contexts: &[ContextInfo]) -> Vec<MenuEntry> {
        let busy = self.connecting;
        let in_use = (self.connecting || self.tunnel_up())
            .then_some(self.state.context.as_deref())
            .flatten();
        let mut out = vec![MenuEntry {
            action: MenuAction::Status,
            label: self.status_line(),
            enabled: false,
            checked: false,
        }];
        if self.state.sign_in_needed
            && let Some(context) = &self.state.context
        {
            out.push(MenuEntry {
                action: MenuAction::SignIn,
                label: format!("Sign in again to {context}…"),
                enabled: !busy,
                checked: false,
            });
        }
        out.push(sep());
        for c in contexts {
            let marked = match in_use {
                Some(used) => used == c.name,
                None => c.current,
            };
            out.push(MenuEntry {
                action: MenuAction::Connect(c.name.clone()),
                label: format!("Connect to {}", c.name),
                enabled: !busy,
                checked: marked,
            });
        }
        if contexts.is_empty() {
            out.push(MenuEntry {
                action: MenuAction::Status,
                label: "No kubeconfig contexts".into(),
                enabled: false,
                checked: false,
            });
        }
        out.push(MenuEntry {
            action: MenuAction::Disconnect,
            label: "Disconnect".into(),
            enabled: self.tunnel_up() || self.connecting || (self.following && self.daemon_restarting),
            checked: false,
        });
        out.push(sep());
        out.push(MenuEntry {
            action: MenuAction::Open,
            label: "Open kubewire".into(),
            enabled: true,
            checked: false,
        });
        // With the tunnel up, Quit asks whether to take it down: the two answers are the items.
        let quits = if self.tunnel_up() {
            vec![
                (MenuAction::QuitDisconnect, "Disconnect and quit"),
                (MenuAction::QuitKeep, "Quit, keep the tunnel up"),
            ]
        } else {
            vec![(MenuAction::Quit, "Quit")]
        };
        for (action, label) in quits {
            out.push(MenuEntry {
                action,
                label: label.into(),
                enabled: true,
                checked: false,
            });
        }
        out
    }
}

fn sep() -> MenuEntry {
    MenuEntry {
        action: MenuAction::Separator,
        label: String::new(),
        enabled: false,
        checked: false,
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
