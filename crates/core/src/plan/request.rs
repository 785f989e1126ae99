//! What the planner needs besides the snapshot: the laptop's facts and the user's settings.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::key::PublicKey;
use crate::model::{DEFAULT_TOPOLOGY_LABEL, Granularity};

/// Granularity as a setting: fixed, or read from the nodes' `granularity` annotation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GranularitySetting {
    /// Read it from the nodes (`kilo.squat.ai/granularity`).
    #[default]
    Auto,
    /// `location`.
    Location,
    /// `full`.
    Full,
}

impl GranularitySetting {
    /// The fixed granularity, or `None` for `auto`.
    #[must_use]
    pub const fn fixed(self) -> Option<Granularity> {
        match self {
            Self::Auto => None,
            Self::Location => Some(Granularity::Location),
            Self::Full => Some(Granularity::Full),
        }
    }
}

/// User settings, with Kilo's and kubewire's defaults.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Mesh granularity (Kilo's `--mesh-granularity`).
    pub granularity: GranularitySetting,
    /// The label a node's location comes from (Kilo's `--topology-label`).
    pub topology_label: String,
    /// Service CIDR(s) to route (to the service gateway).
    pub service_cidrs: Vec<IpNet>,
    /// Put the service CIDR on this node's segment instead of the default one.
    pub service_gateway: Option<String>,
    /// Interface MTU; `None`: follow the underlay (wg-quick's rule, [`crate::mtu`]).
    #[serde(default)]
    pub mtu: Option<u16>,
    /// Persistent keepalive towards every peer (seconds, 0 = off).
    pub persistent_keepalive: u16,
    /// The cluster DNS zone.
    pub dns_zone: String,
    /// The namespace of the first search suffix.
    pub namespace: String,
    /// Interface name wished for.
    pub interface_name: String,
    /// Public ranges the cluster may route besides the private-use ones (`--allow-public-range`).
    #[serde(default)]
    pub allowed_public_ranges: Vec<IpNet>,
    /// Cluster ranges routed into the tunnel even over a local network (`--prefer-tunnel`).
    #[serde(default)]
    pub prefer_tunnel: Vec<IpNet>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            granularity: GranularitySetting::Auto,
            topology_label: DEFAULT_TOPOLOGY_LABEL.to_owned(),
            service_cidrs: Vec::new(),
            service_gateway: None,
            mtu: None,
            persistent_keepalive: 25,
            dns_zone: "cluster.local".to_owned(),
            namespace: "default".to_owned(),
            interface_name: "kubewire0".to_owned(),
            allowed_public_ranges: Vec::new(),
            prefer_tunnel: Vec::new(),
        }
    }
}

/// Everything the planner needs besides the snapshot and "now".
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PlanRequest {
    /// The laptop's public key.
    pub public_key: PublicKey,
    /// The name of the laptop's Kilo Peer (left out of the Plan, as is any Peer with our key).
    pub peer_name: Option<String>,
    /// The laptop's address; chosen in the Kilo subnet when `None`.
    pub address: Option<IpNet>,
    /// The laptop's own networks (its routes): ranges overlapping them are refused.
    pub local_networks: Vec<IpNet>,
    /// Settings.
    pub settings: Settings,
    /// The laptop uses a preshared key with its Peer (the key itself stays on the user side and in the
    /// daemon); the Plan warns when this and the Peer's `spec.presharedKey` disagree.
    pub preshared_key: bool,
}

impl PlanRequest {
    /// A request with default settings.
    #[must_use]
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            peer_name: None,
            address: None,
            local_networks: Vec::new(),
            settings: Settings::default(),
            preshared_key: false,
        }
    }
}
