//! The laptop's connection Plan: what the core computes and the daemon applies. Every type here is
//! `Serialize + Deserialize` (the Plan crosses the IPC socket) and documented in `docs/plan-json.md`.

mod address;
mod build;
mod dns;
mod gateway;
mod request;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use address::choose_address;
pub use build::{PlanError, plan};
pub use request::{GranularitySetting, PlanRequest, Settings};

use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::endpoint::Endpoint;
use crate::key::PublicKey;
use crate::model::Granularity;

/// The version of the Plan's JSON shape; bumped on any incompatible change.
pub const PLAN_VERSION: u32 = 1;

/// The whole Plan.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// The laptop's WireGuard interface.
    pub interface: Interface,
    /// One entry per Kilo segment (Kilo's order), then one per dialable Kilo Peer (by name).
    pub peers: Vec<PeerEntry>,
    /// Routes to install: exactly the union of the peers' AllowedIPs, nothing else.
    pub routes: Vec<IpNet>,
    /// Split DNS for the cluster zone.
    pub dns: Dns,
    /// The segment that carries the service CIDR(s), if any.
    pub service_gateway: Option<ServiceGateway>,
    /// What the plan was computed from.
    pub cluster: ClusterSummary,
    /// Ranges left out by the safety policy or because an earlier peer holds them.
    pub refused: Vec<Refusal>,
    /// Objects left out (nodes not ready, Peers that cannot be dialled, the laptop's own Peer).
    pub skipped: Vec<Skipped>,
    /// Warnings about the cluster's objects and the settings, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// What the daemon's re-check needs to know besides the Plan's own ranges.
    #[serde(default)]
    pub policy: PlanPolicy,
}

/// The user's choices and the cluster's facts the safety checks use, carried in the Plan so that the
/// daemon re-checks it by the same rules. Whatever they say, the daemon never routes a default route,
/// a range broader than /8 (IPv6 /16), loopback, link-local or multicast, and never takes a public or
/// local address for the laptop.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct PlanPolicy {
    /// Public ranges the user allowed the cluster to route (`--allow-public-range`); without them only
    /// private-use ranges are routed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_public_ranges: Vec<IpNet>,
    /// The Kilo subnet a leader announced (`kilo.squat.ai/wireguard-ip`): the laptop's address must be
    /// inside it. `None` when no node announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kilo_subnet: Option<IpNet>,
    /// Ranges the user routes into the tunnel even over a local network that overlaps them
    /// (`--prefer-tunnel`, [`crate::prefer_tunnel`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer_tunnel: Vec<IpNet>,
}

/// The laptop's interface.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name wished for (the OS may impose another).
    pub name: String,
    /// The laptop's address: a single address (`/32` or `/128`) in the Kilo WireGuard subnet.
    pub address: IpNet,
    /// The laptop's public key.
    pub public_key: PublicKey,
    /// MTU set by the user; `None`: the daemon follows the underlay ([`crate::mtu`]).
    #[serde(default)]
    pub mtu: Option<u16>,
    /// Listen port; `None`: the laptop only dials out.
    pub listen_port: Option<u16>,
}

/// What a peer entry stands for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PeerKind {
    /// A Kilo segment, reached through its leader.
    Segment {
        /// Kilo's location key (`location:<name>` or `node:<name>`).
        location: String,
        /// The leader node.
        leader: String,
        /// All nodes of the segment, by name.
        nodes: Vec<String>,
        /// The leader is behind NAT (non-zero persistent keepalive).
        leader_behind_nat: bool,
        /// The leader's Kilo WireGuard IP.
        wireguard_ip: Option<IpAddr>,
    },
    /// Another Kilo Peer, dialled directly.
    KiloPeer,
}

/// One `[Peer]` of the laptop's WireGuard interface.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PeerEntry {
    /// Segment location key or Peer name; unique within the Plan.
    pub name: String,
    /// Segment or Kilo Peer.
    #[serde(flatten)]
    pub kind: PeerKind,
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Where to send handshakes (DNS names are kept).
    pub endpoint: Option<Endpoint>,
    /// AllowedIPs, in Kilo's order (plus the service CIDR on the gateway segment).
    pub allowed_ips: Vec<IpNet>,
    /// Persistent keepalive in seconds, 0 = off.
    pub persistent_keepalive: u16,
}

/// Split DNS settings.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Dns {
    /// The cluster zone, e.g. `cluster.local`.
    pub zone: String,
    /// The cluster DNS address (kube-dns ClusterIP), when known.
    pub server: Option<IpAddr>,
    /// Search suffixes: `<namespace>.svc.<zone>`, `svc.<zone>`.
    pub search: Vec<String>,
    /// The cluster's namespaces, sorted: `<svc>.<ns>` goes to the cluster only for these, and never
    /// for one named like a public domain ([`crate::dns_names`]; such a namespace gets a diagnostic).
    /// `None` while unknown (not yet listed, or the API refuses): then no two-label name goes to the
    /// cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
}

/// How the service gateway was chosen.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum GatewayRule {
    /// The user named a node (`--service-gateway NODE`).
    Requested {
        /// That node.
        node: String,
    },
    /// The first segment (Kilo order) whose leader is not behind NAT.
    FirstNotBehindNat,
    /// Every leader is behind NAT: the first segment.
    FirstSegment,
}

/// The segment through which service traffic enters the cluster (and returns).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ServiceGateway {
    /// Name of the peer entry (segment location key).
    pub peer: String,
    /// That segment's leader.
    pub leader: String,
    /// Service CIDRs attached to it.
    pub cidrs: Vec<IpNet>,
    /// Why this segment.
    #[serde(flatten)]
    pub rule: GatewayRule,
}

/// Facts about the snapshot the plan came from.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Granularity used.
    pub granularity: Granularity,
    /// Kilo's WireGuard subnet.
    pub subnet: IpNet,
    /// Nodes in the snapshot.
    pub nodes: usize,
    /// Nodes that are ready.
    pub ready_nodes: usize,
    /// "Now" used for readiness (Unix seconds).
    pub now: i64,
}

/// Why a range was left out.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum RefusalReason {
    /// A default route, or broader than /8 (IPv6: /16).
    TooBroad,
    /// Loopback.
    Loopback,
    /// Link-local.
    LinkLocal,
    /// Multicast.
    Multicast,
    /// A public range (not private-use) the user did not allow with `--allow-public-range`.
    PublicRange,
    /// Overlaps one of the laptop's own networks.
    OverlapsLocalNetwork {
        /// That network.
        network: IpNet,
    },
    /// Contains a peer's endpoint: the tunnel would route its own packets into itself.
    ContainsEndpoint {
        /// The peer entry whose endpoint it is.
        endpoint_of: String,
        /// The endpoint address.
        address: IpAddr,
    },
    /// Overlaps a range an earlier peer entry holds (no address may be in two peers).
    ClaimedByEarlierPeer {
        /// That peer entry.
        held_by: String,
        /// Its range.
        held_range: IpNet,
    },
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooBroad => f.write_str("a default route or broader than /8 (IPv6 /16)"),
            Self::Loopback => f.write_str("loopback"),
            Self::LinkLocal => f.write_str("link-local"),
            Self::Multicast => f.write_str("multicast"),
            Self::PublicRange => write!(
                f,
                "a public range: the cluster may route only private-use ranges ({}); allow it with \
                 --allow-public-range if the cluster really uses it",
                crate::check::scope::PRIVATE_USE_TEXT
            ),
            Self::OverlapsLocalNetwork { network } => write!(f, "overlaps the local network {network}"),
            Self::ContainsEndpoint { endpoint_of, address } => {
                write!(
                    f,
                    "contains {address}, the endpoint of {endpoint_of} (would loop)"
                )
            }
            Self::ClaimedByEarlierPeer { held_by, held_range } => {
                write!(f, "overlaps {held_range}, already routed to {held_by:?}")
            }
        }
    }
}

/// A range left out of the Plan.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Refusal {
    /// The range.
    pub range: IpNet,
    /// The peer entry it was meant for.
    pub peer: String,
    /// The node, Peer or setting that asked for it, when known.
    pub requested_by: Option<ObjectRef>,
    /// Why.
    #[serde(flatten)]
    pub reason: RefusalReason,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused {} for {:?}", self.range, self.peer)?;
        if let Some(by) = &self.requested_by {
            write!(f, " (asked by {by})")?;
        }
        write!(f, ": {}", self.reason)?;
        if matches!(self.reason, RefusalReason::OverlapsLocalNetwork { .. }) {
            write!(
                f,
                " (the LAN wins; to route it anyway: kubewire connect --prefer-tunnel {})",
                self.range
            )?;
        }
        Ok(())
    }
}

/// An object left out of the Plan.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Skipped {
    /// The object.
    pub object: ObjectRef,
    /// Why.
    pub reason: String,
}

/// The reason of the [`Skipped`] entry for the laptop's own Peer: expected on every connect (the
/// laptop does not dial itself), so `doctor` does not report it.
pub const OWN_PEER: &str = "the laptop's own Peer";

impl Skipped {
    /// Whether this is the laptop's own Peer (not a problem).
    #[must_use]
    pub fn is_own_peer(&self) -> bool {
        self.reason == OWN_PEER
    }
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {}: {}", self.object, self.reason)
    }
}
