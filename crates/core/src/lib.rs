//! kubewire-core: the pure planner (model, Kilo annotations, topology, plan, policy, rendering).
//!
//! Sans-IO: no tokio, no kube, no OS calls; time comes in as an argument. The flow is
//! [`Snapshot`] (from a file with [`Snapshot::parse`], or from plain values — [`NodeSource`],
//! [`PeerSource`], [`ServiceSource`] — with [`Snapshot::from_sources`] / [`Snapshot::upsert_node`] & co.),
//! plus a [`PlanRequest`] and "now" → [`plan()`] → [`Plan`], which the daemon re-checks with
//! [`policy::enforce`] and the renderers in [`render`] print. A watcher keeps a [`Planner`]: it holds
//! the snapshot and the last Plan and re-plans only when something that matters changed.
//!
//! Module map: `source` (plain inputs), `list` (snapshot files), `annotations` (Kilo's reading of
//! Nodes and Peers), `model` (typed Node / KiloPeer), `readiness`, `topology` (segments, leaders,
//! AllowedIPs, WireGuard IPs, location IPs, NAT), `plan` (the laptop's Plan: peers, address, service
//! gateway, DNS), `policy` (refusals, the daemon's re-check), `check` (the rules for ranges, address, DNS fields,
//! interface name and report sizes that both use), `render` (wg-quick, JSON, DOT).

pub mod annotations;
pub mod check;
pub mod cidr;
pub mod cluster_domain;
pub mod connection;
pub mod diagnostics;
pub mod dns_names;
pub mod endpoint;
pub mod key;
pub mod lan_yield;
pub mod list;
mod list_fast;
pub mod model;
pub mod mtu;
pub mod network_event;
mod overlap;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod prefer_tunnel;
pub mod readiness;
pub mod render;
pub mod resume;
pub mod snapshot;
pub mod source;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod time;
pub mod topology;

pub use diagnostics::{Diagnostic, ObjectKind, ObjectRef};
pub use endpoint::{Endpoint, Host};
pub use key::{PresharedKey, PrivateKey, PublicKey};
pub use list::ItemError;
pub use model::{Granularity, KiloPeer, Node};
pub use plan::{GranularitySetting, Plan, PlanError, PlanRequest, Settings, plan};
pub use planner::Planner;
pub use snapshot::{Change, Snapshot};
pub use source::{NodeSource, PeerEndpointSource, PeerSource, ServiceSource};
