//! The messages. Every frame is an [`Envelope`] carrying the protocol version; a daemon answers a
//! frame of another version with [`ErrorCode::VersionMismatch`] and closes.

use std::net::IpAddr;

use ipnet::IpNet;
use kubewire_core::plan::Refusal;
use kubewire_core::{Plan, PublicKey};
use serde::{Deserialize, Serialize};

/// The protocol version; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// One frame on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub v: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Envelope<T> {
    pub fn new(body: T) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            body,
        }
    }
}

/// A private key in transit: base64 text that never shows in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretKey(pub String);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Who asks for the tunnel, for status and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// kubeconfig context name.
    pub context: String,
    /// The cluster's API server URL.
    pub cluster: String,
    /// The Kilo Peer the laptop registered as.
    pub peer_name: String,
    /// The connection's name (`--name`, else the context made DNS-safe): the daemon keys its
    /// sessions by it. Empty from an older client: [`SessionInfo::connection`] derives it then.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl SessionInfo {
    /// The connection this session is: its `name`, else its context made DNS-safe
    /// ([`kubewire_core::connection::connection_name`]).
    #[must_use]
    pub fn connection(&self) -> String {
        if self.name.is_empty() {
            kubewire_core::connection::connection_name(&self.context)
        } else {
            self.name.clone()
        }
    }
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Bring the tunnel to this Plan (creating the interface on the first one, applying only the
    /// difference after). The daemon re-checks the Plan with the core's policy against the machine's
    /// own networks and refuses what the policy refuses.
    Apply {
        plan: Box<Plan>,
        private_key: SecretKey,
        /// The preshared key the laptop shares with its Peer (every segment uses it), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preshared_key: Option<SecretKey>,
        session: SessionInfo,
    },
    /// Remove the interface, routes and DNS settings of the connection `name`, and forget it;
    /// without a name every connection, in order.
    Disconnect {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The current status.
    Status,
    /// Stream [`Event`]s on this connection until it closes.
    Subscribe,
    /// The live configuration of the connection `name` as wg-quick text, private key redacted;
    /// without a name the only connection's (an error lists them when there are several).
    ShowConf {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Let the cluster open connections to `port` of the laptop through connection `name`'s tunnel
    /// (`kubewire expose`); every other port stays closed to the cluster. Only the connection's
    /// owner (or root) may. Without a name: the only connection.
    Expose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        port: ExposedPort,
    },
    /// Close the port(s) of the Service `service` (`namespace/name`) again.
    Unexpose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        service: String,
    },
}

/// A transport protocol of an exposed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// `tcp` / `udp`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// `TCP` / `UDP`, as Kubernetes spells it.
    #[must_use]
    pub const fn kubernetes(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            other => Err(format!(
                "{other:?} is not a protocol kubewire exposes (tcp or udp)"
            )),
        }
    }
}

/// A laptop port the cluster may open connections to through the tunnel, and the Service
/// (`namespace/name`) that points at it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExposedPort {
    pub protocol: Protocol,
    pub port: u16,
    pub service: String,
}

/// What the daemon answers to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    /// The Plan is live; what changed.
    Applied {
        changes: Changes,
        status: Box<Status>,
    },
    /// Everything was removed.
    Disconnected,
    Status {
        status: Box<Status>,
    },
    ShowConf {
        text: String,
    },
    /// The connection's exposed ports after an `Expose` or `Unexpose`.
    Exposed {
        ports: Vec<ExposedPort>,
    },
    /// Subscribed: [`Event`] frames follow.
    Subscribed,
    Error {
        code: ErrorCode,
        message: String,
    },
    /// An event on a subscribed connection.
    Event {
        event: Event,
    },
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The caller is neither root nor in the `kubewire` group.
    NotAuthorized,
    /// The session belongs to another user.
    NotOwner,
    /// The Plan breaks the safety policy (a default route, the laptop's own network…).
    PlanRefused,
    /// No tunnel is up.
    NoSession,
    /// Unreadable or unknown request.
    BadRequest,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The daemon could not do it (the message says what and why).
    Failed,
    /// The Plan's ranges overlap another connection's (the message names it); nothing changed.
    Overlap,
}

/// What one apply changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub interface_created: bool,
    pub peers_added: Vec<String>,
    pub peers_removed: Vec<String>,
    pub routes_added: Vec<IpNet>,
    pub routes_removed: Vec<IpNet>,
    /// Ranges the daemon's own policy check refused (left out, the rest applied).
    pub refused: Vec<Refusal>,
}

/// The tunnel's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelState {
    Disconnected,
    Connected,
    /// Up, but something needs attention (no handshake with some peers, the controller gone…).
    Degraded,
}

/// The daemon's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: TunnelState,
    /// Which WireGuard implementation runs the interface (`kernel`, `boringtun`).
    pub backend: Option<String>,
    pub interface: Option<String>,
    pub address: Option<IpNet>,
    /// Unix seconds.
    pub connected_since: Option<u64>,
    /// Unix seconds of the last applied Plan.
    pub last_update: Option<u64>,
    /// uid of the session's owner.
    pub owner_uid: Option<u32>,
    pub session: Option<SessionInfo>,
    /// The process that applies Plans is still attached; when it is gone the tunnel stays up with
    /// its last Plan, and is no longer updated.
    pub controller_attached: bool,
    pub peers: Vec<PeerStatus>,
    pub routes: Vec<IpNet>,
    pub service_gateway: Option<String>,
    pub dns_server: Option<IpAddr>,
    pub warnings: Vec<String>,
    /// The tunnel's MTU and where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<kubewire_core::mtu::TunnelMtu>,
    /// The last network change the daemon followed, and what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_event: Option<kubewire_core::network_event::NetworkEvent>,
    /// Where containers on the laptop's Docker/Podman bridges can ask for cluster names (each
    /// bridge's gateway address, port 53; answered for that bridge's subnet only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_dns: Vec<std::net::SocketAddr>,
    /// The Plan's ranges a local network took (the LAN wins), with the network and its interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<kubewire_core::lan_yield::Withdrawn>,
    /// Every connection's own status, by name (`session.name`). The fields above are the first
    /// connection's (by name), so a reader of one connection reads them as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Status>,
    /// The laptop ports the cluster may connect to (`kubewire expose`); every other port is closed
    /// to it when `inbound_filter` is true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<ExposedPort>,
    /// Whether the filter that closes the laptop to the cluster (but for `exposed`) is in place.
    #[serde(default)]
    pub inbound_filter: bool,
}

impl Status {
    /// The connection's name, when this is a connection's status.
    #[must_use]
    pub fn connection(&self) -> Option<String> {
        self.session.as_ref().map(SessionInfo::connection)
    }

    pub fn disconnected() -> Self {
        Self {
            state: TunnelState::Disconnected,
            backend: None,
            interface: None,
            address: None,
            connected_since: None,
            last_update: None,
            owner_uid: None,
            session: None,
            controller_attached: false,
            peers: Vec::new(),
            routes: Vec::new(),
            service_gateway: None,
            dns_server: None,
            warnings: Vec::new(),
            mtu: None,
            network_event: None,
            container_dns: Vec::new(),
            withdrawn: Vec::new(),
            connections: Vec::new(),
            exposed: Vec::new(),
            inbound_filter: false,
        }
    }
}

/// One live peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The Plan's peer entry name (segment location key or Peer name).
    pub name: String,
    pub public_key: PublicKey,
    /// The endpoint in use (resolved).
    pub endpoint: Option<String>,
    pub allowed_ips: Vec<IpNet>,
    /// Seconds since the last handshake; `None`: never.
    pub last_handshake_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// The daemon's verdict ([`crate::health`]); absent from a daemon that did not judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::PeerHealth>,
}

impl PeerStatus {
    /// The daemon's verdict on this peer, or (from a daemon that gave none) the same rule without
    /// the grace period. Readers show this; they do not judge handshake ages themselves.
    #[must_use]
    pub fn health(&self) -> crate::health::PeerHealth {
        self.health
            .unwrap_or_else(|| crate::health::PeerHealth::judge_without_grace(self.last_handshake_secs))
    }
}

/// Pushed to subscribers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The state or the Plan changed.
    Status { status: Box<Status> },
    /// Periodic per-peer statistics (every few seconds while connected).
    PeerStats { peers: Vec<PeerStatus> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_carry_the_version_and_a_tag() {
        let text = serde_json::to_string(&Envelope::new(Request::Status)).unwrap();
        assert_eq!(text, r#"{"v":1,"request":"status"}"#);
        let back: Envelope<Request> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.body, Request::Status);
    }

    #[test]
    fn a_disconnect_without_a_name_reads_as_before_and_a_named_one_carries_it() {
        let all: Envelope<Request> = serde_json::from_str(r#"{"v":1,"request":"disconnect"}"#).unwrap();
        assert_eq!(all.body, Request::Disconnect { name: None });
        let text = serde_json::to_string(&Envelope::new(Request::Disconnect {
            name: Some("prod".into()),
        }))
        .unwrap();
        assert_eq!(text, r#"{"v":1,"request":"disconnect","name":"prod"}"#);
        let show: Envelope<Request> = serde_json::from_str(r#"{"v":1,"request":"show-conf"}"#).unwrap();
        assert_eq!(show.body, Request::ShowConf { name: None });
    }

    #[test]
    fn a_session_without_a_name_is_its_context_made_dns_safe() {
        let info: SessionInfo =
            serde_json::from_str(r#"{"context":"Prod_EU","cluster":"https://x","peer_name":"p"}"#).unwrap();
        assert_eq!(info.connection(), "prod-eu");
        let named = SessionInfo {
            name: "eu".into(),
            ..info
        };
        assert_eq!(named.connection(), "eu");
    }

    #[test]
    fn secret_keys_never_show_in_debug() {
        let req = Request::Apply {
            plan: Box::new(sample_plan()),
            private_key: SecretKey("c2VjcmV0".into()),
            preshared_key: Some(SecretKey("cHNrcHNr".into())),
            session: SessionInfo::default(),
        };
        assert!(!format!("{req:?}").contains("c2VjcmV0"));
        assert!(!format!("{req:?}").contains("cHNrcHNr"));
    }

    fn sample_plan() -> Plan {
        let text = include_str!("../../core/tests/fixtures/seed-cluster.yaml");
        let snapshot = kubewire_core::Snapshot::parse(text).unwrap();
        let key: PublicKey = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap();
        kubewire_core::plan(&snapshot, &kubewire_core::PlanRequest::new(key), 1_800_000_010).unwrap()
    }

    #[test]
    fn a_plan_round_trips() {
        let plan = sample_plan();
        let req = Envelope::new(Request::Apply {
            plan: Box::new(plan.clone()),
            private_key: SecretKey("k".into()),
            preshared_key: None,
            session: SessionInfo::default(),
        });
        let back: Envelope<Request> = serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        match back.body {
            Request::Apply { plan: p, .. } => assert_eq!(*p, plan),
            other => panic!("{other:?}"),
        }
    }
}
