//! The types of the command/event contract with the web front end (`docs/tray-contract.md`), as
//! serialised to it: fields in camelCase, enums as kebab-case strings.

use serde::{Deserialize, Serialize};

/// The connection's phase; also picks the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    #[default]
    Disconnected,
    Connecting,
    Connected,
    Degraded,
    Error,
}

impl Phase {
    /// The word shown to the user.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Degraded => "degraded",
            Self::Error => "error",
        }
    }
}

/// Everything the window shows; sent whole on every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    pub phase: Phase,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub laptop_address: Option<String>,
    pub connected_since: Option<u64>,
    pub steps: Vec<StepState>,
    pub error: Option<UiError>,
    pub api_reachable: bool,
    pub controller_attached: bool,
    pub gateway: Option<String>,
    pub nodes: Vec<NodeRow>,
    pub topology: Topology,
    pub dns: Option<DnsInfo>,
    pub warnings: Vec<String>,
    pub daemon_reachable: bool,
    /// The last network change the daemon followed and what it did.
    pub network: Option<NetworkNote>,
    /// The tunnel's MTU and where it came from ("1320 (the underlay's 1400 less 80)").
    pub mtu: Option<String>,
    /// The API server refused the credentials (401): the menu and the window offer "Sign in
    /// again", which connects again and so runs the kubeconfig's login.
    #[serde(default)]
    pub sign_in_needed: bool,
    /// The laptop ports the cluster may connect to, with their Services (`kubewire expose`).
    #[serde(default)]
    pub exposed: Vec<ExposedRow>,
}

/// One exposed laptop port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposedRow {
    /// `namespace/name` of the Service.
    pub service: String,
    /// The laptop's port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// The last network change, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkNote {
    /// Unix seconds.
    pub at: u64,
    /// "10.42.3.0/24 on wlan0 appeared → 10.42.3.0/24 (aws) withdrawn from the tunnel…".
    pub text: String,
}

/// One connect step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepState {
    pub id: String,
    pub label: String,
    pub state: StepProgress,
    pub ms: Option<u64>,
    pub detail: Option<String>,
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepProgress {
    Pending,
    Running,
    Done,
    Failed,
}

/// What went wrong, in plain words, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiError {
    pub kind: ErrorKind,
    pub title: String,
    pub message: String,
    pub fix: String,
    pub command: Option<String>,
}

/// Which kind of error (the UI may style or link by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    DaemonUnreachable,
    NotAuthorised,
    KiloMissing,
    Kubeconfig,
    ApiUnreachable,
    Refused,
    /// The API server no longer accepts the credentials (401): signing in again helps.
    SignIn,
    Other,
}

/// A kubeconfig context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextInfo {
    pub name: String,
    pub cluster: String,
    pub server: String,
    pub namespace: Option<String>,
    pub current: bool,
}

/// A segment's (or node's) health from its handshake age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    Stale,
    NoHandshake,
    #[default]
    Unknown,
}

/// One row of the nodes table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    pub name: String,
    pub location: String,
    pub segment: String,
    pub leader: bool,
    pub gateway: bool,
    pub endpoint: Option<String>,
    pub handshake_age_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub health: Health,
    pub allowed_ips: Vec<String>,
}

/// The picture: the laptop and the segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub laptop: TopologyLaptop,
    pub segments: Vec<TopologySegment>,
}

/// The laptop in the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopologyLaptop {
    pub address: Option<String>,
}

/// One segment in the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySegment {
    pub name: String,
    pub location: String,
    pub leader: String,
    pub members: Vec<String>,
    pub gateway: bool,
    pub health: Health,
    pub endpoint: Option<String>,
}

/// Split DNS in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsInfo {
    pub zone: String,
    pub search_suffixes: Vec<String>,
    pub server: String,
    pub backend: String,
}

/// One doctor check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: Option<String>,
}

/// How a doctor check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

/// A name looked up through the system resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveResult {
    pub name: String,
    pub answers: Vec<String>,
    pub rcode: String,
    pub ms: u64,
    pub error: Option<String>,
}

/// The user's settings (`settings.json` in the config dir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub autostart: bool,
    pub auto_connect: bool,
    pub last_context: Option<String>,
    pub default_namespace: String,
    pub service_cidr: Option<String>,
    pub service_gateway: Option<String>,
    pub keep_peer: bool,
    /// The tunnel's MTU; `None`: follow the network (the route towards the nodes less 80).
    pub mtu: Option<u16>,
    /// The node label holding each node's location (Kilo's `--topology-label`); `None`: Kilo's
    /// default, `topology.kubernetes.io/region`.
    pub topology_label: Option<String>,
    /// The laptop's tunnel address (`connect --address`); `None`: its Peer's, else one chosen
    /// from its key.
    pub address: Option<String>,
    /// Persistent keepalive in seconds (0 = off); `None`: 25.
    pub persistent_keepalive: Option<u16>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            autostart: false,
            auto_connect: false,
            last_context: None,
            default_namespace: "default".into(),
            service_cidr: None,
            service_gateway: None,
            keep_peer: false,
            mtu: None,
            topology_label: None,
            address: None,
            persistent_keepalive: None,
        }
    }
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub time: u64,
    pub level: LogLevel,
    pub target: String,
    pub message: String,
}

/// A log entry's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}
