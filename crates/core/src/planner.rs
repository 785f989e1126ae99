//! Re-planning as the cluster changes: a [`Planner`] keeps the snapshot and the last Plan, and
//! recomputes only when something that matters changed. The agents' heartbeat (`last-seen`, every node
//! every 30 s: 166 updates a second on 5,000 nodes) only matters when it flips a node's readiness, so
//! it costs a readiness scan instead of a full plan.

use crate::diagnostics::{ObjectKind, ObjectRef};
use crate::plan::{Plan, PlanError, PlanRequest, Skipped, plan};
use crate::readiness;
use crate::snapshot::{Change, Snapshot};
use crate::source::{NodeSource, PeerSource, ServiceSource};

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
        }
    }

    /// Replaces the request (settings, local networks...).
    pub fn set_request(&mut self, request: PlanRequest) {
        if request != self.request {
            self.request = request;
            self.cached = None;
        }
    }

    /// Adds or replaces a Node.
    pub fn upsert_node(&mut self, source: &NodeSource) {
        let change = self.snapshot.upsert_node(source);
        self.note(change);
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

    fn readiness(&self, now: i64) -> Vec<bool> {
        self.snapshot
            .nodes()
            .map(|n| readiness::check(n, now).is_ok())
            .collect()
    }

    /// The Plan at `now`: the cached one when no node's readiness flipped and nothing else changed
    /// (always equal to [`plan()`] on the same snapshot), else a fresh one.
    pub fn plan(&mut self, now: i64) -> Result<&Plan, PlanError> {
        let ready = self.readiness(now);
        let cached = match self.cached.take() {
            Some(mut cached) if cached.ready == ready => {
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
                cached
            }
            _ => Cached {
                plan: plan(&self.snapshot, &self.request, now)?,
                ready,
            },
        };
        Ok(&self.cached.insert(cached).plan)
    }
}
