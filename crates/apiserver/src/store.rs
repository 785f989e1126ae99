//! The in-memory object store: objects by resource and key, one global resourceVersion counter,
//! the event history since the last compaction (for watch resumption and consistent paged lists),
//! and a broadcast channel that feeds live watches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use ipnet::Ipv4Net;

use super::object;
use super::resources::{Registry, ResourceType};
use super::services::DEFAULT_SERVICE_CIDR;
use super::status::ApiError;

/// Errors of store operations: the same `metav1.Status`-shaped errors the HTTP API returns.
pub type StoreError = ApiError;

/// How a watch from a resourceVersion older than the kept history fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiredMode {
    /// HTTP 200, then an `ERROR` event whose object is a 410 `Expired` Status (the watch cache's way).
    #[default]
    InStreamError,
    /// An HTTP 410 response with a Status body (etcd-backed watches, and what some proxies do).
    HttpStatus,
}

/// Watch event types the store emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created (or, in a synthetic initial event, existing).
    Added,
    /// Object changed.
    Modified,
    /// Object deleted.
    Deleted,
}

impl EventType {
    /// The wire name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, as kept in the history and sent to watchers.
#[derive(Debug)]
pub struct StoreEvent {
    /// The resourceVersion this change created.
    pub rv: u64,
    /// API group of the object's resource.
    pub group: String,
    /// Plural of the object's resource.
    pub plural: String,
    /// Namespace (`""` for cluster-scoped objects) and name.
    pub key: (String, String),
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for `Deleted`: its last state, with the deletion's resourceVersion).
    pub object: Value,
    /// The object before the change (`None` for `Added`).
    pub old: Option<Value>,
}

pub(super) type ObjKey = (String, String);
pub(super) type ResKey = (String, String);

pub(super) struct State {
    pub(super) rv: u64,
    pub(super) registry: Registry,
    pub(super) objects: BTreeMap<ResKey, BTreeMap<ObjKey, Value>>,
    pub(super) history: Vec<Arc<StoreEvent>>,
    pub(super) compacted: u64,
    pub(super) expired_mode: ExpiredMode,
    pub(super) bookmark_interval: Duration,
    pub(super) service_cidr: Ipv4Net,
    pub(super) forbidden: BTreeSet<(String, String, String)>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) tx: broadcast::Sender<Arc<StoreEvent>>,
}

/// The object store behind the API server. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Store {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.lock().rv)
            .finish()
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// History kept before the oldest half is compacted away automatically.
pub(super) const MAX_HISTORY: usize = 20_000;
/// Buffered live events per watcher; a watcher that falls further behind gets 410 Expired.
const WATCH_BUFFER: usize = 4096;

impl Store {
    /// A store serving the built-in kinds, with the namespaces every cluster has
    /// (`default`, `kube-system`, `kube-public`, `kube-node-lease`).
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(WATCH_BUFFER);
        let store = Store {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    rv: 0,
                    registry: Registry::with_builtins(),
                    objects: BTreeMap::new(),
                    history: Vec::new(),
                    compacted: 0,
                    expired_mode: ExpiredMode::default(),
                    bookmark_interval: Duration::from_secs(2),
                    service_cidr: DEFAULT_SERVICE_CIDR,
                    forbidden: BTreeSet::new(),
                }),
                tx,
            }),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            // Cannot fail on a fresh store: the kind is built in and the names are unique.
            let _ = store.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        let _ = store.create(service_cidr_object(DEFAULT_SERVICE_CIDR));
        store
    }

    /// Sets the service CIDR (default 10.43.0.0/16, k3s's): ClusterIPs are allocated and validated
    /// in it, and the `kubernetes` ServiceCIDR object (networking.k8s.io/v1, as served since
    /// Kubernetes 1.33) shows it. Delete that object to model an older cluster.
    pub fn set_service_cidr(&self, cidr: Ipv4Net) {
        self.lock().service_cidr = cidr;
        let updated = self.update("networking.k8s.io/v1", "ServiceCIDR", None, "kubernetes", |obj| {
            obj["spec"]["cidrs"] = json!([cidr.to_string()]);
        });
        if updated.is_err() {
            let _ = self.create(service_cidr_object(cidr));
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the Kilo `peers.kilo.squat.ai` CustomResourceDefinition, which makes
    /// `kilo.squat.ai/v1alpha1` Peers served and discoverable.
    pub fn install_kilo_crd(&self) -> Result<(), StoreError> {
        self.create(object::kilo_peer_crd()).map(|_| ())
    }

    /// Creates an object by its `apiVersion`/`kind` (namespace from `metadata.namespace`, default
    /// `default`). Sets uid, creationTimestamp, resourceVersion and generation. 409 if it exists.
    pub fn create(&self, obj: Value) -> Result<Value, StoreError> {
        let rt = self.resolve_kind(&obj)?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.create_at(&rt, ns.as_deref(), obj, false)
    }

    /// The object, if it exists.
    pub fn get(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let rt = self.lock().registry.by_kind(api_version, kind).cloned()?;
        self.get_at(&rt, namespace, name).ok()
    }

    /// The objects of a kind, in one namespace or (with `None`) all, ordered by namespace and name.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(rt) = self.lock().registry.by_kind(api_version, kind).cloned() else {
            return Vec::new();
        };
        self.list_at(&rt, namespace, None)
            .map(|(items, _)| items)
            .unwrap_or_default()
    }

    /// Changes an object in place with `f` (any field, status included: this is the store, not the
    /// HTTP API). A real change bumps resourceVersion (and generation when anything outside metadata
    /// and status changed) and emits MODIFIED; a no-op changes nothing, as in kube-apiserver. `f` runs
    /// under the store lock: it must not call the store.
    pub fn update(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, StoreError> {
        let rt = self.resolve(api_version, kind)?;
        self.modify_at(&rt, namespace, name, false, |obj| {
            f(obj);
            Ok(())
        })
    }

    /// Deletes an object and emits DELETED; returns its last state.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, StoreError> {
        let rt = self.resolve(api_version, kind)?;
        self.delete_at(&rt, namespace, name, false, |_| Ok(()))
    }

    /// Forgets the history up to now: a later watch (or continue token) from an older
    /// resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.compacted = st.rv;
        st.history.clear();
    }

    /// Chooses how too-old watches fail.
    pub fn set_expired_mode(&self, mode: ExpiredMode) {
        self.lock().expired_mode = mode;
    }

    /// The interval between BOOKMARK events on watches that allow them (default 2 s).
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.lock().bookmark_interval = interval;
    }

    /// Makes the HTTP API refuse `verb` (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`, or `*`) on `group`/`resource` (e.g. `kilo.squat.ai`/`peers`)
    /// with 403 Forbidden, as missing RBAC permissions would; SelfSubjectAccessReviews agree.
    pub fn forbid(&self, verb: &str, group: &str, resource: &str) {
        self.lock()
            .forbidden
            .insert((verb.to_string(), group.to_string(), resource.to_string()));
    }

    /// Lifts every [`Store::forbid`].
    pub fn allow_all(&self) {
        self.lock().forbidden.clear();
    }

    pub(crate) fn is_forbidden(&self, verb: &str, group: &str, resource: &str) -> bool {
        let st = self.lock();
        [verb, "*"].iter().any(|v| {
            st.forbidden
                .contains(&(v.to_string(), group.to_string(), resource.to_string()))
        })
    }

    /// The current resourceVersion (the counter's last value).
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    // ---- crate-internal operations, by resource type ----

    pub(crate) fn expired_mode(&self) -> ExpiredMode {
        self.lock().expired_mode
    }

    pub(crate) fn bookmark_interval(&self) -> Duration {
        self.lock().bookmark_interval
    }

    pub(crate) fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    fn resolve(&self, api_version: &str, kind: &str) -> Result<ResourceType, ApiError> {
        self.lock()
            .registry
            .by_kind(api_version, kind)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no matches for kind \"{kind}\" in version \"{api_version}\""
                ))
            })
    }

    fn resolve_kind(&self, obj: &Value) -> Result<ResourceType, ApiError> {
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        self.resolve(av, kind)
    }
}

fn service_cidr_object(cidr: Ipv4Net) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes"},
        "spec": {"cidrs": [cidr.to_string()]},
        "status": {"conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "",
            "message": "Kubernetes Service CIDR is ready",
            "lastTransitionTime": super::time::rfc3339(std::time::SystemTime::now()),
        }]},
    })
}
