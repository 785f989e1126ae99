//! Plain inputs: what the cluster says, as strings, before any Kilo interpretation. The snapshot file
//! parser produces these, and so will the cluster crate from kube objects.

use std::collections::BTreeMap;

/// A Node as the API server has it: only what Kilo reads.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NodeSource {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.podCIDRs`, or `[spec.podCIDR]`; the first is the one Kilo uses.
    pub pod_cidrs: Vec<String>,
}

/// `spec.endpoint` of a Kilo Peer.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PeerEndpointSource {
    /// `dnsOrIP.dns`.
    pub dns: Option<String>,
    /// `dnsOrIP.ip`.
    pub ip: Option<String>,
    /// `port`.
    pub port: i64,
}

/// A Kilo `Peer` (cluster-scoped) as the API server has it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PeerSource {
    /// `metadata.name`.
    pub name: String,
    /// `spec.allowedIPs`.
    pub allowed_ips: Vec<String>,
    /// `spec.publicKey`.
    pub public_key: String,
    /// `spec.endpoint`.
    pub endpoint: Option<PeerEndpointSource>,
    /// `spec.persistentKeepalive` (seconds).
    pub persistent_keepalive: i64,
    /// Whether `spec.presharedKey` is set (its value never leaves the cluster crate).
    pub has_preshared_key: bool,
}

/// A Service: only the cluster DNS Service matters to the planner.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ServiceSource {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.clusterIP` (may be `None`, `""` or `"None"` for headless Services).
    pub cluster_ip: Option<String>,
}
