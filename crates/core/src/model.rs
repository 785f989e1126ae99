//! Typed values: a Node and a Kilo Peer as Kilo understands them (after annotation parsing).

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::key::PublicKey;

/// The topology label Kilo reads a node's location from, unless `--topology-label` names another.
pub const DEFAULT_TOPOLOGY_LABEL: &str = "topology.kubernetes.io/region";

/// How Kilo groups nodes into segments.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Nodes of one location share a segment (a node without an internal IP is its own segment).
    Location,
    /// Every node is its own segment.
    Full,
}

/// A Node after Kilo's reading of its annotations (pkg/k8s/backend.go).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// Labels (the location may come from one of them).
    pub labels: BTreeMap<String, String>,
    /// `kilo.squat.ai/location`, when present (even empty).
    pub location_annotation: Option<String>,
    /// `force-endpoint` when valid, else `endpoint`.
    pub endpoint: Option<Endpoint>,
    /// `force-internal-ip` when valid, else `internal-ip`; `None` when forced to `""`/`"-"`.
    /// Kept as written (address with the interface mask).
    pub internal_ip: Option<IpNet>,
    /// `key`.
    pub key: Option<PublicKey>,
    /// `last-seen` (Unix seconds), 0 when absent or unparsable.
    pub last_seen: i64,
    /// `leader` is present (any value).
    pub leader: bool,
    /// `persistent-keepalive` seconds, 0 when absent or unparsable. Non-zero means "behind NAT".
    pub persistent_keepalive: i64,
    /// `spec.podCIDR` (the network).
    pub pod_cidr: Option<IpNet>,
    /// `wireguard-ip`, as written (e.g. `10.4.0.1/16`).
    pub wireguard_ip: Option<IpNet>,
    /// `discovered-endpoints`: public key text -> endpoint this node saw.
    pub discovered_endpoints: BTreeMap<String, Endpoint>,
    /// `allowed-location-ips` (networks; invalid entries skipped).
    pub allowed_location_ips: Vec<IpNet>,
    /// `granularity` (`location` or `full`; anything else is unset).
    pub granularity: Option<Granularity>,
}

impl Node {
    /// The location: the annotation over the topology label, else `""`.
    #[must_use]
    pub fn location<'a>(&'a self, topology_label: &str) -> &'a str {
        self.location_annotation
            .as_deref()
            .or_else(|| self.labels.get(topology_label).map(String::as_str))
            .unwrap_or("")
    }

    /// Behind NAT, as Kilo reads it: a non-zero persistent keepalive.
    #[must_use]
    pub fn behind_nat(&self) -> bool {
        self.persistent_keepalive != 0
    }
}

/// A Kilo Peer that Kilo would use (valid key, at least one valid allowed IP).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KiloPeer {
    /// `metadata.name`.
    pub name: String,
    /// `spec.allowedIPs` (networks; invalid entries skipped).
    pub allowed_ips: Vec<IpNet>,
    /// `spec.publicKey`.
    pub public_key: PublicKey,
    /// `spec.endpoint`, when valid.
    pub endpoint: Option<Endpoint>,
    /// `spec.persistentKeepalive` seconds (negative values are 0, as in Kilo).
    pub persistent_keepalive: i64,
    /// `spec.presharedKey` is set.
    pub has_preshared_key: bool,
}
