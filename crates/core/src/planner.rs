//! Re-planning as the cluster changes: a [`Planner`] keeps the snapshot and the last Plan, and
//! recomputes only when something that matters changed. The agents' heartbeat (`last-seen`, every node
//! every 30 s: 166 updates a second on 5,000 nodes) only matters when it flips a node's readiness, so
//! it costs a readiness scan instead of a full plan. A change to a node's endpoint, key or keepalive
//! that moves no leader patches the one segment entry it touches (see [`Planner::plan`]).

use std::collections::BTreeMap;

use crate::diagnostics::{ObjectKind, ObjectRef};
use crate::endpoint::Endpoint;
use crate::model::Node;
use crate::plan::{GatewayRule, PeerKind, Plan, PlanError, PlanRequest, Skipped, plan};
use crate::readiness;
use crate::snapshot::{Change, ParsedNode, Snapshot};
use crate::source::{NodeSource, PeerSource, ServiceSource};
use crate::topology::{find_leader, location_key};

struct Cached {
    plan: Plan,
    /// Readiness of every node, in name order, when the Plan was made.
    ready: Vec<bool>,
}

/// A snapshot, a request, and the last Plan made from them.
pub struct Planner {
    snapshot: Snapshot,
    request: PlanRequest,
    cached: Option<Cached>,
    /// Nodes changed since the cached Plan was made, as they were then.
    changed: BTreeMap<String, ParsedNode>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("nodes", &self.snapshot.node_count())
            .finish_non_exhaustive()
    }
}

impl Planner {
    /// A planner over `snapshot` for `request`.
    #[must_use]
    pub fn new(snapshot: Snapshot, request: PlanRequest) -> Self {
        Self {
            snapshot,
            request,
            cached: None,
            changed: BTreeMap::new(),
        }
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn note(&mut self, change: Change) {
        if change == Change::Changed {
            self.cached = None;
            self.changed.clear();
        }
    }

    /// Replaces the request (settings, local networks...).
    pub fn set_request(&mut self, request: PlanRequest) {
        if request != self.request {
            self.request = request;
            self.cached = None;
            self.changed.clear();
        }
    }

    /// Adds or replaces a Node.
    pub fn upsert_node(&mut self, source: &NodeSource) {
        let (change, old) = self.snapshot.upsert_node_keeping_old(source);
        match (change, old) {
            (Change::Changed, Some(old)) if self.cached.is_some() => {
                self.changed.entry(source.name.clone()).or_insert(old);
            }
            (change, _) => self.note(change),
        }
    }

    /// Removes a Node.
    pub fn remove_node(&mut self, name: &str) {
        let change = self.snapshot.remove_node(name);
        self.note(change);
    }

    /// Adds or replaces a Kilo Peer.
    pub fn upsert_peer(&mut self, source: &PeerSource) {
        let change = self.snapshot.upsert_peer(source);
        self.note(change);
    }

    /// Removes a Kilo Peer.
    pub fn remove_peer(&mut self, name: &str) {
        let change = self.snapshot.remove_peer(name);
        self.note(change);
    }

    /// Adds or replaces a Service.
    pub fn upsert_service(&mut self, source: ServiceSource) {
        let change = self.snapshot.upsert_service(source);
        self.note(change);
    }

    /// Removes a Service.
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let change = self.snapshot.remove_service(namespace, name);
        self.note(change);
    }

    /// All the Namespaces (a list or a re-list); `None` makes them unknown again.
    pub fn set_namespaces(&mut self, names: Option<std::collections::BTreeSet<String>>) -> Change {
        let change = self.snapshot.set_namespaces(names);
        self.note(change);
        change
    }

    /// A Namespace was added.
    pub fn upsert_namespace(&mut self, name: &str) -> Change {
        let change = self.snapshot.upsert_namespace(name);
        self.note(change);
        change
    }

    /// A Namespace was deleted.
    pub fn remove_namespace(&mut self, name: &str) -> Change {
        let change = self.snapshot.remove_namespace(name);
        self.note(change);
        change
    }

    /// The request Plans are made for.
    #[must_use]
    pub fn request(&self) -> &PlanRequest {
        &self.request
    }

    fn readiness(&self, now: i64) -> Vec<bool> {
        self.snapshot
            .nodes()
            .map(|n| readiness::check(n, now).is_ok())
            .collect()
    }

    /// The Plan at `now`: the cached one when no node's readiness flipped and nothing else changed, or
    /// the cached one patched when the only changes are nodes' endpoints, keys or keepalives that move
    /// no leader, refuse no other range and change no gateway (always equal to [`plan()`] on the same
    /// snapshot), else a fresh one.
    pub fn plan(&mut self, now: i64) -> Result<&Plan, PlanError> {
        let ready = self.readiness(now);
        let changed = std::mem::take(&mut self.changed);
        let reused = match self.cached.take() {
            // A Plan whose skipped list was cut to its cap is made afresh (the cut hides which were there).
            Some(mut cached)
                if cached.ready == ready
                    && !cached
                        .plan
                        .skipped
                        .iter()
                        .any(|s| s.object.kind == ObjectKind::Snapshot) =>
            {
                Self::patch(&self.snapshot, &self.request, &changed, &mut cached.plan, now).then_some(cached)
            }
            _ => None,
        };
        let cached = match reused {
            Some(mut cached) => {
                // Only "now" and the ages in the not-ready reasons move.
                let plan = &mut cached.plan;
                plan.cluster.now = now;
                plan.skipped.retain(|s| s.object.kind != ObjectKind::Node);
                plan.skipped.extend(self.snapshot.nodes().filter_map(|n| {
                    readiness::check(n, now).err().map(|why| Skipped {
                        object: ObjectRef::node(&n.name),
                        reason: why.to_string(),
                    })
                }));
                plan.skipped.sort();
                crate::check::cap_reports(plan);
                cached
            }
            None => Cached {
                plan: plan(&self.snapshot, &self.request, now)?,
                ready,
            },
        };
        Ok(&self.cached.insert(cached).plan)
    }

    /// Brings `plan` up to date with the changed nodes when each change can only touch its segment's
    /// entry (readiness is known to be unchanged); `false` when a fresh plan is needed.
    fn patch(
        snapshot: &Snapshot,
        request: &PlanRequest,
        changed: &BTreeMap<String, ParsedNode>,
        plan: &mut Plan,
        now: i64,
    ) -> bool {
        let patcher = Patcher {
            snapshot,
            request,
            now,
        };
        changed
            .iter()
            .all(|(name, old)| patcher.patch_one(plan, name, old))
    }
}

/// Patches a cached Plan for one changed node at a time.
struct Patcher<'a> {
    snapshot: &'a Snapshot,
    request: &'a PlanRequest,
    now: i64,
}

impl Patcher<'_> {
    fn patch_one(&self, plan: &mut Plan, name: &str, old: &ParsedNode) -> bool {
        let Some(new) = self.snapshot.parsed_node(name) else {
            return false;
        };
        if old.diagnostics != new.diagnostics || !same_but_dialling(&old.node, &new.node) {
            return false;
        }
        let node = &new.node;
        // Not ready then and now (the readiness scan said it did not flip): it only counts through the
        // facts compared above.
        if readiness::check(node, self.now).is_err() {
            return true;
        }
        let (prefix, location) = location_key(
            node,
            plan.cluster.granularity,
            &self.request.settings.topology_label,
        );
        let Some(index) = plan.peers.iter().position(|e| {
            matches!(e.kind, PeerKind::Segment { .. })
                && e.name.len() == prefix.len() + location.len()
                && e.name.starts_with(prefix)
                && e.name.ends_with(location)
        }) else {
            return false;
        };
        let Some(entry) = plan.peers.get(index) else {
            return false;
        };
        let PeerKind::Segment { leader, nodes, .. } = &entry.kind else {
            return false;
        };
        if !nodes.contains(&node.name) {
            return false;
        }
        let members: Option<Vec<&Node>> = nodes.iter().map(|n| self.snapshot.node(n)).collect();
        let Some(members) = members else { return false };
        if members.get(find_leader(&members)).map(|n| &n.name) != Some(leader) {
            return false;
        }
        if *leader != node.name {
            return true;
        }
        // The leader itself: its key, endpoint and NAT status are the entry's.
        let Some(key) = node.key else { return false };
        let behind_nat = node.behind_nat();
        if behind_nat
            && self
                .snapshot
                .nodes()
                .any(|n| !n.discovered_endpoints.is_empty() && readiness::check(n, self.now).is_ok())
        {
            return false; // its endpoint may be a discovered one
        }
        if key != entry.public_key
            && self
                .snapshot
                .peers()
                .any(|p| p.public_key == key || p.public_key == entry.public_key)
        {
            return false; // a Peer with a leader's key is skipped
        }
        let endpoint = node.endpoint.clone();
        if endpoint != entry.endpoint {
            // An endpoint inside a range refuses it.
            let ips = [&endpoint, &entry.endpoint].map(|e| e.as_ref().and_then(Endpoint::ip));
            let ranges = plan.routes.iter().chain(plan.refused.iter().map(|r| &r.range));
            if ranges
                .clone()
                .any(|r| ips.iter().flatten().any(|ip| r.contains(ip)))
            {
                return false;
            }
        }
        let Some(entry) = plan.peers.get_mut(index) else {
            return false;
        };
        entry.public_key = key;
        entry.endpoint = endpoint;
        let PeerKind::Segment {
            leader_behind_nat, ..
        } = &mut entry.kind
        else {
            return false;
        };
        if *leader_behind_nat == behind_nat {
            return true;
        }
        *leader_behind_nat = behind_nat;
        self.gateway_stays(plan)
    }

    /// The service gateway is still the segment [`crate::plan`] would choose.
    fn gateway_stays(&self, plan: &Plan) -> bool {
        let settings = &self.request.settings;
        if settings.service_cidrs.is_empty() {
            return plan.service_gateway.is_none();
        }
        let Some(gateway) = &plan.service_gateway else {
            return false;
        };
        let segments = || {
            plan.peers.iter().filter_map(|e| match &e.kind {
                PeerKind::Segment {
                    nodes,
                    leader_behind_nat,
                    ..
                } => Some((e, nodes, *leader_behind_nat)),
                PeerKind::KiloPeer => None,
            })
        };
        if let Some(requested) = &settings.service_gateway
            && segments().any(|(_, nodes, _)| nodes.contains(requested))
        {
            return true; // chosen by name
        }
        let chosen = segments()
            .find(|(_, _, nat)| !nat)
            .map(|(e, _, _)| (e, GatewayRule::FirstNotBehindNat))
            .or_else(|| segments().next().map(|(e, _, _)| (e, GatewayRule::FirstSegment)));
        chosen.is_some_and(|(e, rule)| e.name == gateway.peer && rule == gateway.rule)
    }
}

/// Equal but for the facts that matter only through the segment's leader (endpoint, key, keepalive)
/// or not at all to the Plan (last-seen, once readiness is known not to flip).
fn same_but_dialling(a: &Node, b: &Node) -> bool {
    let Node {
        name,
        labels,
        location_annotation,
        endpoint: _,
        internal_ip,
        key: _,
        last_seen: _,
        leader,
        persistent_keepalive: _,
        pod_cidr,
        wireguard_ip,
        discovered_endpoints,
        allowed_location_ips,
        granularity,
    } = a;
    *name == b.name
        && *labels == b.labels
        && *location_annotation == b.location_annotation
        && *internal_ip == b.internal_ip
        && *leader == b.leader
        && *pod_cidr == b.pod_cidr
        && *wireguard_ip == b.wireguard_ip
        && *discovered_endpoints == b.discovered_endpoints
        && *allowed_location_ips == b.allowed_location_ips
        && *granularity == b.granularity
}
