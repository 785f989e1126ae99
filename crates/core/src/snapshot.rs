//! The cluster as the planner sees it: Nodes and Kilo Peers already read as Kilo reads them, and the
//! Services that matter. Built from a snapshot file ([`Snapshot::parse`]) or from plain values
//! ([`Snapshot::upsert_node`] & co., which the cluster crate feeds from its watches). Updating one
//! object re-reads only that object, so re-planning after one change stays cheap.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::annotations::{parse_node, parse_peer};
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::list::ItemError;
use crate::model::{KiloPeer, Node};
use crate::source::{NodeSource, PeerSource, ServiceSource};

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct ParsedNode {
    pub(crate) node: Node,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct ParsedPeer {
    peer: Option<KiloPeer>,
    diagnostics: Vec<Diagnostic>,
}

/// Nodes, Kilo Peers and Services, keyed by name (so input order never matters).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Snapshot {
    nodes: BTreeMap<String, ParsedNode>,
    peers: BTreeMap<String, ParsedPeer>,
    services: BTreeMap<(String, String), ServiceSource>,
    /// The cluster's Namespaces by name; `None` until listed.
    namespaces: Option<BTreeSet<String>>,
}

/// What an update changed, as far as the planner cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Change {
    /// Nothing.
    Same,
    /// Only a node's `last-seen` (the agents' heartbeat): the Plan stays unless readiness flips.
    LastSeenOnly,
    /// Anything else.
    Changed,
}

/// The namespace and name of the cluster DNS Service.
pub const CLUSTER_DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");

impl Snapshot {
    /// An empty snapshot.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot from plain values (later duplicates of a name replace earlier ones).
    #[must_use]
    pub fn from_sources(nodes: &[NodeSource], peers: &[PeerSource], services: &[ServiceSource]) -> Self {
        let mut s = Self::new();
        for n in nodes {
            s.upsert_node(n);
        }
        for p in peers {
            s.upsert_peer(p);
        }
        for v in services {
            s.upsert_service(v.clone());
        }
        s
    }

    /// A snapshot of Nodes already read by [`crate::annotations`] (later duplicates of a name replace
    /// earlier ones), built in one go.
    pub(crate) fn from_parsed_nodes(nodes: impl Iterator<Item = (Node, Vec<Diagnostic>)>) -> Self {
        let list: Vec<(String, ParsedNode)> = nodes
            .map(|(node, diagnostics)| (node.name.clone(), ParsedNode { node, diagnostics }))
            .collect();
        if list.is_sorted_by(|a, b| a.0 < b.0) {
            // The usual case (the API server lists by name): no name twice, built without moving much.
            return Self {
                nodes: list.into_iter().collect(),
                ..Self::default()
            };
        }
        let mut list: Vec<ParsedNode> = list.into_iter().map(|(_, p)| p).collect();
        list.sort_by(|a, b| a.node.name.cmp(&b.node.name)); // stable: duplicates stay in input order
        let mut unique: Vec<ParsedNode> = Vec::with_capacity(list.len());
        for parsed in list {
            if unique.last().is_some_and(|l| l.node.name == parsed.node.name) {
                unique.pop();
            }
            unique.push(parsed);
        }
        Self {
            nodes: unique.into_iter().map(|p| (p.node.name.clone(), p)).collect(),
            ..Self::default()
        }
    }

    /// Parses a snapshot file (see [`crate::list::parse_list`]).
    pub fn parse(text: &str) -> Result<Self, Vec<ItemError>> {
        if let Some(snapshot) = crate::list_fast::parse_snapshot(text) {
            return Ok(snapshot);
        }
        let items = crate::list::parse_list_precisely(text)?;
        Ok(Self::from_sources(&items.nodes, &items.peers, &items.services))
    }

    /// Adds or replaces a Node, and tells what changed for the planner.
    pub fn upsert_node(&mut self, source: &NodeSource) -> Change {
        let (node, diagnostics) = parse_node(source);
        self.upsert_parsed_node(node, diagnostics)
    }

    /// Adds or replaces a Node already read by [`crate::annotations`].
    pub(crate) fn upsert_parsed_node(&mut self, node: Node, diagnostics: Vec<Diagnostic>) -> Change {
        self.upsert_parsed_node_keeping_old(node, diagnostics).0
    }

    /// [`Self::upsert_node`], also giving back the replaced Node (with its diagnostics).
    pub(crate) fn upsert_node_keeping_old(&mut self, source: &NodeSource) -> (Change, Option<ParsedNode>) {
        let (node, diagnostics) = parse_node(source);
        self.upsert_parsed_node_keeping_old(node, diagnostics)
    }

    fn upsert_parsed_node_keeping_old(
        &mut self,
        node: Node,
        diagnostics: Vec<Diagnostic>,
    ) -> (Change, Option<ParsedNode>) {
        let parsed = ParsedNode { node, diagnostics };
        let name = parsed.node.name.clone();
        let old = self.nodes.insert(name, parsed);
        let change = match (&old, old.as_ref().and_then(|o| self.nodes.get(&o.node.name))) {
            (Some(old), Some(new)) if old == new => Change::Same,
            (Some(old), Some(new)) => {
                let (a, b) = (&old.node, &new.node);
                let same_but_seen = old.diagnostics == new.diagnostics
                    && Node {
                        last_seen: b.last_seen,
                        ..a.clone()
                    } == *b;
                if same_but_seen {
                    Change::LastSeenOnly
                } else {
                    Change::Changed
                }
            }
            _ => Change::Changed,
        };
        (change, old)
    }

    /// A Node by name, with the diagnostics from reading it.
    pub(crate) fn parsed_node(&self, name: &str) -> Option<&ParsedNode> {
        self.nodes.get(name)
    }

    /// Removes a Node.
    pub fn remove_node(&mut self, name: &str) -> Change {
        if self.nodes.remove(name).is_some() {
            Change::Changed
        } else {
            Change::Same
        }
    }

    /// Adds or replaces a Kilo Peer.
    pub fn upsert_peer(&mut self, source: &PeerSource) -> Change {
        let (peer, diagnostics) = parse_peer(source);
        let parsed = ParsedPeer { peer, diagnostics };
        let same = self.peers.get(&source.name) == Some(&parsed);
        self.peers.insert(source.name.clone(), parsed);
        if same { Change::Same } else { Change::Changed }
    }

    /// Removes a Kilo Peer.
    pub fn remove_peer(&mut self, name: &str) -> Change {
        if self.peers.remove(name).is_some() {
            Change::Changed
        } else {
            Change::Same
        }
    }

    /// Adds or replaces a Service.
    pub fn upsert_service(&mut self, source: ServiceSource) -> Change {
        let key = (source.namespace.clone(), source.name.clone());
        let same = self.services.get(&key) == Some(&source);
        self.services.insert(key, source);
        if same { Change::Same } else { Change::Changed }
    }

    /// Removes a Service.
    pub fn remove_service(&mut self, namespace: &str, name: &str) -> Change {
        if self
            .services
            .remove(&(namespace.to_owned(), name.to_owned()))
            .is_some()
        {
            Change::Changed
        } else {
            Change::Same
        }
    }

    /// All the Namespaces (a list or a re-list): `None` makes them unknown again.
    pub fn set_namespaces(&mut self, names: Option<BTreeSet<String>>) -> Change {
        if self.namespaces == names {
            return Change::Same;
        }
        self.namespaces = names;
        Change::Changed
    }

    /// A Namespace was added (after the first list; before it, the set stays unknown).
    pub fn upsert_namespace(&mut self, name: &str) -> Change {
        let added = self
            .namespaces
            .as_mut()
            .is_some_and(|set| set.insert(name.to_owned()));
        if added { Change::Changed } else { Change::Same }
    }

    /// A Namespace was deleted.
    pub fn remove_namespace(&mut self, name: &str) -> Change {
        let removed = self.namespaces.as_mut().is_some_and(|set| set.remove(name));
        if removed { Change::Changed } else { Change::Same }
    }

    /// The Namespaces, when they were listed.
    #[must_use]
    pub fn namespaces(&self) -> Option<&BTreeSet<String>> {
        self.namespaces.as_ref()
    }

    /// Adds everything of `other` (its objects replace same-named ones).
    pub fn merge(&mut self, other: Self) {
        self.nodes.extend(other.nodes);
        self.peers.extend(other.peers);
        self.services.extend(other.services);
        if other.namespaces.is_some() {
            self.namespaces = other.namespaces;
        }
    }

    /// All Nodes, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values().map(|p| &p.node)
    }

    /// A Node by name.
    #[must_use]
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name).map(|p| &p.node)
    }

    /// The Kilo Peers that Kilo would use, by name.
    pub fn peers(&self) -> impl Iterator<Item = &KiloPeer> {
        self.peers.values().filter_map(|p| p.peer.as_ref())
    }

    /// Names of the Peers that Kilo ignores (invalid key or no valid allowed IP).
    pub fn ignored_peers(&self) -> impl Iterator<Item = &str> {
        self.peers
            .iter()
            .filter(|(_, p)| p.peer.is_none())
            .map(|(n, _)| n.as_str())
    }

    /// Number of Nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every diagnostic from reading the objects, Nodes by name then Peers by name.
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.nodes
            .values()
            .flat_map(|n| &n.diagnostics)
            .chain(self.peers.values().flat_map(|p| &p.diagnostics))
    }

    /// The cluster DNS address: the ClusterIP of `kube-system/kube-dns`, else of a `kube-system` Service
    /// labelled `k8s-app=kube-dns`. A problem is returned as a diagnostic.
    pub fn cluster_dns(&self) -> Result<IpAddr, Diagnostic> {
        let (ns, name) = CLUSTER_DNS_SERVICE;
        let service = self.services.get(&(ns.to_owned(), name.to_owned())).or_else(|| {
            self.services
                .values()
                .find(|s| s.namespace == ns && s.labels.get("k8s-app").is_some_and(|v| v == "kube-dns"))
        });
        let Some(service) = service else {
            return Err(Diagnostic::object(
                ObjectRef::service(ns, name),
                "not in the snapshot; cluster DNS is off (names like web.default.svc will not resolve)",
            ));
        };
        let object = ObjectRef::service(&service.namespace, &service.name);
        let text = service.cluster_ip.as_deref().unwrap_or("");
        text.parse::<IpAddr>().map_err(|_| {
            Diagnostic::field(
                object,
                "spec.clusterIP",
                format!("{text:?} is not an IP address; cluster DNS is off"),
            )
        })
    }
}
