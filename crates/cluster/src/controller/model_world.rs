//! The world of the controller's model test: a tiny cluster (the truth), fed to the controller
//! through its watches while the API server is up, the operations proptest draws on it, and the
//! [`Harness`]'s tiny daemon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kubewire_core::{Plan, PlanRequest, Snapshot};
use proptest::prelude::*;

use super::testing::{Harness, config, node, peer, snapshot};
use crate::watch::ClusterChange;

const LOCATIONS: &[&str] = &["aws", "gcp", "azure"];
const NAMESPACES: &[&str] = &["default", "kube-system", "dev", "com", "team-a"];
/// Ranges a Peer may ask for; the public one must be left out.
const RANGES: &[&str] = &[
    "10.5.0.0/16",
    "192.168.77.0/24",
    "9.9.9.0/24",
    "fd00:5::/64",
    "172.20.0.0/16",
];

#[derive(Debug, Clone)]
pub(super) enum Op {
    Join {
        i: u32,
        location: usize,
    },
    Leave {
        i: u32,
    },
    Move {
        i: u32,
        port: u16,
    },
    Stale {
        i: u32,
    },
    Revive {
        i: u32,
    },
    Leader {
        i: u32,
    },
    PeerSet {
        i: u32,
        ranges: Vec<usize>,
    },
    PeerGone {
        i: u32,
    },
    NamespaceAdd {
        k: usize,
    },
    NamespaceGone {
        k: usize,
    },
    /// The daemon's statistics: per segment of the Plan in force, a fresh or a stale handshake.
    Handshakes {
        stale: Vec<bool>,
    },
    ApiDown,
    ApiUp,
    Relist,
    DaemonDown,
    DaemonUp,
    Advance {
        ms: u64,
    },
    Settle,
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let i = 0_u32..6;
    prop_oneof![
        3 => (i.clone(), 0..LOCATIONS.len()).prop_map(|(i, location)| Op::Join { i, location }),
        2 => i.clone().prop_map(|i| Op::Leave { i }),
        2 => (i.clone(), 51820_u16..51823).prop_map(|(i, port)| Op::Move { i, port }),
        1 => i.clone().prop_map(|i| Op::Stale { i }),
        1 => i.clone().prop_map(|i| Op::Revive { i }),
        1 => i.clone().prop_map(|i| Op::Leader { i }),
        1 => (0_u32..3, proptest::collection::vec(0..RANGES.len(), 1..3))
            .prop_map(|(i, ranges)| Op::PeerSet { i, ranges }),
        1 => (0_u32..3).prop_map(|i| Op::PeerGone { i }),
        1 => (0..NAMESPACES.len()).prop_map(|k| Op::NamespaceAdd { k }),
        1 => (0..NAMESPACES.len()).prop_map(|k| Op::NamespaceGone { k }),
        2 => proptest::collection::vec(any::<bool>(), 1..4).prop_map(|stale| Op::Handshakes { stale }),
        1 => Just(Op::ApiDown),
        1 => Just(Op::ApiUp),
        1 => Just(Op::Relist),
        1 => Just(Op::DaemonDown),
        1 => Just(Op::DaemonUp),
        3 => prop_oneof![Just(10_u64), Just(150), Just(1_000), Just(6_000), Just(30_000)]
            .prop_map(|ms| Op::Advance { ms }),
        2 => Just(Op::Settle),
    ]
}

/// A node of the cluster (the truth).
#[derive(Debug, Clone)]
struct NodeModel {
    location: usize,
    port: u16,
    last_seen: i64,
    leader: bool,
    /// Its agent runs (sends heartbeats).
    alive: bool,
}

pub(super) struct World {
    pub(super) h: Harness,
    nodes: BTreeMap<u32, NodeModel>,
    peers: BTreeMap<u32, Vec<usize>>,
    namespaces: BTreeSet<String>,
    /// The last Plan the daemon held (before a restart took it).
    pub(super) last_held: Option<Plan>,
    /// The laptop's request (the failover's gateway comes from the controller).
    pub(super) request: PlanRequest,
}

impl World {
    pub(super) fn new(api_offset: i64) -> Self {
        let cfg = config();
        let mut w = Self {
            h: Harness::connected(&cfg, Snapshot::new(), api_offset),
            nodes: BTreeMap::new(),
            peers: BTreeMap::new(),
            namespaces: ["default", "kube-system"].map(String::from).into(),
            last_held: None,
            request: cfg.request.clone(),
        };
        let now = w.h.api_now();
        for i in 0..3 {
            w.nodes.insert(
                i,
                NodeModel {
                    location: i as usize,
                    port: 51820,
                    last_seen: now,
                    leader: false,
                    alive: true,
                },
            );
        }
        w.h = Harness::connected(&cfg, w.truth(), api_offset);
        w.last_held.clone_from(&w.h.daemon_plan);
        w
    }

    fn source(i: u32, n: &NodeModel) -> kubewire_core::NodeSource {
        let mut s = node(i, LOCATIONS[n.location], n.port, n.last_seen);
        if n.leader {
            s.annotations.insert("kilo.squat.ai/leader".into(), String::new());
        }
        s
    }

    fn node_sources(&self) -> Vec<kubewire_core::NodeSource> {
        self.nodes.iter().map(|(i, n)| Self::source(*i, n)).collect()
    }

    /// The cluster as it is.
    fn truth(&self) -> Snapshot {
        let mut truth = snapshot(&self.node_sources(), &self.peer_sources());
        truth.set_namespaces(Some(self.namespaces.clone()));
        truth
    }

    fn peer_sources(&self) -> Vec<kubewire_core::PeerSource> {
        self.peers
            .iter()
            .map(|(i, r)| peer(*i, &r.iter().map(|k| RANGES[*k]).collect::<Vec<_>>()))
            .collect()
    }

    /// A watch event, seen by the controller only while the API server is up.
    fn watch(&mut self, change: ClusterChange) {
        if self.h.api_up {
            self.h.change(change);
        }
    }

    fn node_changed(&mut self, i: u32) {
        let change = match self.nodes.get(&i) {
            Some(n) => ClusterChange::NodeApplied(Self::source(i, n)),
            None => ClusterChange::NodeDeleted(format!("node-{i}")),
        };
        self.watch(change);
    }

    fn relist(&mut self) {
        let (nodes, peers) = (self.node_sources(), self.peer_sources());
        self.watch(ClusterChange::NodesListed(nodes));
        self.watch(ClusterChange::PeersListed(peers));
        let namespaces = self.namespaces.iter().cloned().collect();
        self.watch(ClusterChange::NamespacesListed(namespaces));
    }

    /// The agents that run refresh `last-seen`.
    fn heartbeats(&mut self) {
        let now = self.h.api_now();
        let alive: Vec<u32> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.alive)
            .map(|(i, _)| *i)
            .collect();
        for i in alive {
            if let Some(n) = self.nodes.get_mut(&i) {
                n.last_seen = now;
            }
            self.node_changed(i);
        }
    }

    /// Time passes, with heartbeats every 5 s.
    fn advance(&mut self, d: Duration) {
        let mut left = d;
        while !left.is_zero() {
            let step = left.min(Duration::from_secs(5));
            self.heartbeats();
            self.h.advance(step);
            left -= step;
        }
    }

    pub(super) fn apply(&mut self, op: &Op) {
        match op.clone() {
            Op::Join { i, location } => {
                let now = self.h.api_now();
                let n = self.nodes.entry(i).or_insert(NodeModel {
                    location,
                    port: 51820,
                    last_seen: now,
                    leader: false,
                    alive: true,
                });
                n.location = location;
                self.node_changed(i);
            }
            Op::Leave { i } => {
                if self.nodes.remove(&i).is_some() {
                    self.node_changed(i);
                }
            }
            Op::Move { i, port } => self.edit(i, |n| n.port = port),
            Op::Stale { i } => {
                let now = self.h.api_now();
                self.edit(i, |n| {
                    n.alive = false;
                    n.last_seen = now - 120;
                });
            }
            Op::Revive { i } => {
                let now = self.h.api_now();
                self.edit(i, |n| {
                    n.alive = true;
                    n.last_seen = now;
                });
            }
            Op::Leader { i } => self.edit(i, |n| n.leader = !n.leader),
            Op::PeerSet { i, ranges } => {
                self.peers.insert(i, ranges.clone());
                self.watch(ClusterChange::PeerApplied(peer(
                    i,
                    &ranges.iter().map(|k| RANGES[*k]).collect::<Vec<_>>(),
                )));
            }
            Op::PeerGone { i } => {
                if self.peers.remove(&i).is_some() {
                    self.watch(ClusterChange::PeerDeleted(format!("peer-{i}")));
                }
            }
            Op::NamespaceAdd { k } => {
                if self.namespaces.insert(NAMESPACES[k].to_owned()) {
                    self.watch(ClusterChange::NamespaceApplied(NAMESPACES[k].to_owned()));
                }
            }
            Op::NamespaceGone { k } => {
                if self.namespaces.remove(NAMESPACES[k]) {
                    self.watch(ClusterChange::NamespaceDeleted(NAMESPACES[k].to_owned()));
                }
            }
            Op::Handshakes { stale } => {
                let Some(plan) = self.h.c.plan_in_force() else {
                    return;
                };
                if !self.h.daemon_up {
                    return;
                }
                let segments = crate::failover::segments(plan);
                let ages: Vec<(String, Option<u64>)> = segments
                    .iter()
                    .enumerate()
                    .map(|(n, s)| (s.peer.clone(), Some(if stale[n % stale.len()] { 300 } else { 5 })))
                    .collect();
                let ages: Vec<(&str, Option<u64>)> = ages.iter().map(|(p, a)| (p.as_str(), *a)).collect();
                self.h.stats(&ages);
            }
            Op::ApiDown => {
                if self.h.api_up {
                    self.watch(ClusterChange::WatchFailed {
                        resource: "nodes",
                        status: None,
                        message: "connection refused".into(),
                    });
                    self.h.api_up = false;
                }
            }
            Op::ApiUp => {
                if !self.h.api_up {
                    self.h.api_up = true;
                    // The watches reconnect and list afresh.
                    self.relist();
                }
            }
            Op::Relist => {
                self.watch(ClusterChange::Expired { resource: "nodes" });
                self.relist();
            }
            Op::DaemonDown => {
                if self.h.daemon_up {
                    self.h.daemon_down();
                }
            }
            Op::DaemonUp => {
                if !self.h.daemon_up {
                    self.h.daemon_back();
                }
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(ms)),
            Op::Settle => {
                self.heartbeats();
                self.h.advance(Duration::from_secs(12));
            }
        }
    }

    fn edit(&mut self, i: u32, f: impl FnOnce(&mut NodeModel)) {
        if let Some(n) = self.nodes.get_mut(&i) {
            f(n);
            self.node_changed(i);
        }
    }

    /// A fresh plan of the truth, at `now`.
    pub(super) fn fresh(&self, now: i64) -> Option<Plan> {
        let truth = self.truth();
        let mut request = self.request.clone();
        request.settings.service_gateway = self.h.c.request().settings.service_gateway.clone();
        kubewire_core::plan(&truth, &request, now).ok()
    }
}
