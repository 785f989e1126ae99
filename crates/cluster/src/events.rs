//! What the controller tells its user (the CLI prints it, the tray app shows it): the connection's
//! steps as they complete, and the cluster's state while it is followed.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// The steps of connecting, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The kubeconfig is read and the context chosen.
    Kubeconfig,
    /// The API server answered (and gave its clock).
    ApiReachable,
    /// Kilo's Peer CRD exists; kube-dns and the service CIDR are known.
    KiloPresent,
    /// The laptop's key pair is ready.
    Key,
    /// The laptop's Kilo Peer is registered.
    PeerRegistered,
    /// The first Plan is computed.
    Planned,
    /// The daemon applied it.
    Applied,
    /// The first WireGuard handshake with a segment completed.
    FirstHandshake,
}

impl Step {
    /// A short human label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Kubeconfig => "kubeconfig",
            Self::ApiReachable => "API server reachable",
            Self::KiloPresent => "Kilo present",
            Self::Key => "key pair",
            Self::PeerRegistered => "Peer registered",
            Self::Planned => "plan computed",
            Self::Applied => "plan applied",
            Self::FirstHandshake => "first handshake",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ControllerEvent {
    /// A step completed, `took` after the previous one.
    Step {
        step: Step,
        took: Duration,
        detail: String,
    },
    /// A new Plan went to the sink.
    PlanSent {
        peers: usize,
        routes: usize,
        ready_nodes: usize,
        gateway: Option<String>,
    },
    /// Sending the Plan failed (kept retrying).
    SinkFailed { message: String },
    /// The API server stopped answering; the last Plan stays.
    Unreachable { since: SystemTime, message: String },
    /// It answers again.
    Reachable { after: Duration },
    /// A watch lost its history (410 Gone) and re-listed.
    Relisted { resource: String },
    /// The daemon went away (stopped, crashed or restarting); the Plan is applied again when it is
    /// back.
    DaemonLost { message: String },
    /// The daemon is back and took the Plan again, `after` it went away.
    DaemonBack { after: Duration },
    /// The service gateway moved.
    GatewayMoved {
        from: Option<String>,
        to: Option<String>,
        reason: String,
    },
    /// The API server refuses the credentials (401): they expired or were revoked. Retrying
    /// does not help; signing in again does (the tray offers it).
    SignInNeeded { message: String },
    /// The first request waits for an interactive credential plugin (`command`): the user may
    /// have to sign in (a browser, a device code).
    WaitingForSignIn { command: String },
    /// The cluster domain was a guess and the cluster's DNS, asked through the tunnel, named it.
    ClusterDomainFound { domain: String, how: String },
    /// Something the user should know.
    Warning { message: String },
    /// The controller stopped.
    Stopped,
}

impl std::fmt::Display for ControllerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Step { step, took, detail } => {
                write!(f, "✓ {:<22} {:>6} ms  {detail}", step.label(), took.as_millis())
            }
            Self::PlanSent {
                peers,
                routes,
                ready_nodes,
                gateway,
            } => write!(
                f,
                "plan updated: {peers} peers, {routes} routes, {ready_nodes} ready nodes, service gateway {}",
                gateway.as_deref().unwrap_or("none")
            ),
            Self::SinkFailed { message } => write!(f, "applying the plan failed (retrying): {message}"),
            Self::Unreachable { since, message } => write!(
                f,
                "cluster API unreachable since {}, retrying (the tunnel keeps its last plan): {message}",
                httpdate::fmt_http_date(*since)
            ),
            Self::Reachable { after } => {
                write!(f, "cluster API reachable again after {} s", after.as_secs())
            }
            Self::DaemonLost { message } => write!(
                f,
                "the kubewire daemon went away ({message}); the tunnel is restored when it is back"
            ),
            Self::DaemonBack { after } => write!(
                f,
                "the kubewire daemon is back: tunnel restored {} ms after it went away",
                after.as_millis()
            ),
            Self::Relisted { resource } => write!(f, "{resource} watch expired (410); re-listed"),
            Self::GatewayMoved { from, to, reason } => write!(
                f,
                "service gateway moved from {} to {}: {reason}",
                from.as_deref().unwrap_or("default"),
                to.as_deref().unwrap_or("default")
            ),
            Self::SignInNeeded { message } => write!(
                f,
                "the API server no longer accepts your credentials ({message}): they expired or were \
                 revoked; sign in again (the tray's \"Sign in again\", or `kubectl get --raw /version` \
                 then `kubewire connect`)"
            ),
            Self::WaitingForSignIn { command } => write!(
                f,
                "waiting for you to sign in: the kubeconfig's credential plugin `{command}` may have \
                 opened a browser or asked in this terminal (up to {} min)",
                crate::kubeconfig::SIGN_IN_TIMEOUT.as_secs() / 60
            ),
            Self::ClusterDomainFound { domain, how } => {
                write!(f, "cluster domain {domain}: {how}")
            }
            Self::Warning { message } => write!(f, "warning: {message}"),
            Self::Stopped => f.write_str("controller stopped"),
        }
    }
}
