//! The in-memory object store: objects by resource and key, one global resourceVersion counter,
//! the event history since the last compaction (for watch resumption and consistent paged lists),
//! and a broadcast channel that feeds live watches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::object::{self, meta_str};
use super::resources::{Registry, ResourceType};
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

/// What a watch starts from.
pub(crate) struct Subscription {
    /// Events to send first: synthetic `ADDED`s for a watch from "now", or the replayed history.
    pub initial: Vec<Arc<StoreEvent>>,
    /// Live events (of every resource; the watcher filters).
    pub rx: broadcast::Receiver<Arc<StoreEvent>>,
    /// The resourceVersion the initial events bring the watcher to.
    pub rv: u64,
}

type ObjKey = (String, String);
type ResKey = (String, String);

struct State {
    rv: u64,
    registry: Registry,
    objects: BTreeMap<ResKey, BTreeMap<ObjKey, Value>>,
    history: Vec<Arc<StoreEvent>>,
    compacted: u64,
    expired_mode: ExpiredMode,
    bookmark_interval: Duration,
}

struct Shared {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<StoreEvent>>,
}

/// The object store behind the API server. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
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
const MAX_HISTORY: usize = 20_000;
/// Buffered live events per watcher; a watcher that falls further behind gets 410 Expired.
const WATCH_BUFFER: usize = 4096;

fn key_of(rt: &ResourceType) -> ResKey {
    (rt.group.clone(), rt.plural.clone())
}

fn ns_key(rt: &ResourceType, namespace: Option<&str>) -> String {
    if rt.namespaced {
        namespace.unwrap_or("default").to_string()
    } else {
        String::new()
    }
}

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
                }),
                tx,
            }),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            // Cannot fail on a fresh store: the kind is built in and the names are unique.
            let _ = store.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
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

    /// Changes an object in place with `f`. A real change bumps resourceVersion (and generation when
    /// anything outside metadata and status changed) and emits MODIFIED; a no-op changes nothing, as
    /// in kube-apiserver.
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

    /// Creates (with `dry_run`: only validates and returns what would be stored).
    pub(crate) fn create_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let ns = ns_key(rt, namespace);
        let mut obj = object::prepare_create(rt, &ns, obj)?;
        let name = meta_str(&obj, "name").to_string();
        let key = (ns, name.clone());
        if st.objects.get(&key_of(rt)).is_some_and(|m| m.contains_key(&key)) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if rt.plural == "customresourcedefinitions" {
            let crd_rt = object::accept_crd(&mut obj)?;
            if !dry_run {
                st.registry.register(crd_rt);
            }
        }
        if dry_run {
            return Ok(obj);
        }
        Ok(self.commit(&mut st, rt, key, EventType::Added, obj, None))
    }

    pub(crate) fn get_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let st = self.lock();
        let key = (ns_key(rt, namespace), name.to_string());
        st.objects
            .get(&key_of(rt))
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// The objects (one namespace, or all with `None`) and the list's resourceVersion. With
    /// `at = Some(rv)`, the state as of `rv` (410 if that is older than the history).
    pub(crate) fn list_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        at: Option<u64>,
    ) -> Result<(Vec<Value>, u64), ApiError> {
        let st = self.lock();
        let mut objs = st.objects.get(&key_of(rt)).cloned().unwrap_or_default();
        let mut rv = st.rv;
        if let Some(at) = at.filter(|at| *at < st.rv) {
            if at < st.compacted {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter.",
                ));
            }
            for ev in st.history.iter().rev().take_while(|ev| ev.rv > at) {
                if ev.group != rt.group || ev.plural != rt.plural {
                    continue;
                }
                match (&ev.kind, &ev.old) {
                    (EventType::Added, _) => {
                        objs.remove(&ev.key);
                    }
                    (_, Some(old)) => {
                        objs.insert(ev.key.clone(), old.clone());
                    }
                    (_, None) => {}
                }
            }
            rv = at;
        }
        let items = objs
            .into_iter()
            .filter(|((ns, _), _)| match namespace {
                Some(want) if rt.namespaced => ns == want,
                _ => true,
            })
            .map(|(_, v)| v)
            .collect();
        Ok((items, rv))
    }

    /// PUT: replaces the object; a non-empty `metadata.resourceVersion` must match (409 Conflict).
    pub(crate) fn replace_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        new: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let sent_rv = meta_str(&new, "resourceVersion").to_string();
        self.modify_at(rt, namespace, name, dry_run, move |obj| {
            if !sent_rv.is_empty() && sent_rv != meta_str(obj, "resourceVersion") {
                return Err(ApiError::conflict(&rt.group, &rt.plural, name));
            }
            *obj = new;
            Ok(())
        })
    }

    /// Read-modify-write of one object under the store lock.
    pub(crate) fn modify_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        self.upsert_at(rt, namespace, name, dry_run, |current| match current {
            Some(cur) => {
                let mut next = cur.clone();
                f(&mut next)?;
                Ok(next)
            }
            None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
        })
        .map(|(obj, _)| obj)
    }

    /// Computes the next state of an object from its current state (`None` when absent) and
    /// stores it: creates when absent, updates otherwise. Returns the object and whether it was
    /// created.
    pub(crate) fn upsert_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<(Value, bool), ApiError> {
        let mut st = self.lock();
        let key = (ns_key(rt, namespace), name.to_string());
        let current = st.objects.get(&key_of(rt)).and_then(|m| m.get(&key)).cloned();
        let next = f(current.as_ref())?;
        let Some(old) = current else {
            let mut obj = object::prepare_create(rt, &key.0, next)?;
            if meta_str(&obj, "name") != name {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            if rt.plural == "customresourcedefinitions" {
                let crd_rt = object::accept_crd(&mut obj)?;
                if !dry_run {
                    st.registry.register(crd_rt);
                }
            }
            if dry_run {
                return Ok((obj, true));
            }
            return Ok((self.commit(&mut st, rt, key, EventType::Added, obj, None), true));
        };
        let mut obj = object::prepare_update(rt, &old, next)?;
        if obj == old {
            return Ok((old, false));
        }
        if rt.plural == "customresourcedefinitions" {
            let crd_rt = object::accept_crd(&mut obj)?;
            if !dry_run {
                st.registry.register(crd_rt);
            }
        }
        if dry_run {
            return Ok((obj, false));
        }
        Ok((
            self.commit(&mut st, rt, key, EventType::Modified, obj, Some(old)),
            false,
        ))
    }

    /// Deletes after `precondition` accepted the current object (with `dry_run`: only checks).
    pub(crate) fn delete_at(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        precondition: impl FnOnce(&Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let key = (ns_key(rt, namespace), name.to_string());
        let current = st
            .objects
            .get(&key_of(rt))
            .and_then(|m| m.get(&key))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        precondition(current)?;
        if dry_run {
            return Ok(current.clone());
        }
        let old = st
            .objects
            .get_mut(&key_of(rt))
            .and_then(|m| m.remove(&key))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let deleted = self.commit(
            &mut st,
            rt,
            key,
            EventType::Deleted,
            old.clone(),
            Some(old.clone()),
        );
        if rt.plural == "customresourcedefinitions"
            && let Some(crd_rt) = ResourceType::from_crd(&old)
        {
            st.registry.unregister(&crd_rt.group, &crd_rt.plural);
            let gone = st.objects.remove(&key_of(&crd_rt)).unwrap_or_default();
            for (k, obj) in gone {
                self.commit(&mut st, &crd_rt, k, EventType::Deleted, obj.clone(), Some(obj));
            }
        }
        Ok(deleted)
    }

    /// Starts a watch: from "now" (`None`: synthetic ADDED events for the current objects) or after
    /// resourceVersion `from` (replayed history; 410 if compacted away).
    pub(crate) fn subscribe(&self, rt: &ResourceType, from: Option<u64>) -> Result<Subscription, ApiError> {
        let st = self.lock();
        let rx = self.shared.tx.subscribe();
        let initial = match from {
            None => st
                .objects
                .get(&key_of(rt))
                .map(|m| {
                    m.iter()
                        .map(|(k, obj)| {
                            Arc::new(StoreEvent {
                                rv: st.rv,
                                group: rt.group.clone(),
                                plural: rt.plural.clone(),
                                key: k.clone(),
                                kind: EventType::Added,
                                object: obj.clone(),
                                old: None,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Some(from) if from < st.compacted => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {from} ({})",
                    st.compacted
                )));
            }
            Some(from) => st
                .history
                .iter()
                .filter(|ev| ev.rv > from && ev.group == rt.group && ev.plural == rt.plural)
                .cloned()
                .collect(),
        };
        Ok(Subscription {
            initial,
            rx,
            rv: st.rv,
        })
    }

    /// Assigns the next resourceVersion, stores (or, for DELETED, forgets) the object, records the
    /// event and notifies watchers. Runs under the lock, so events are totally ordered.
    fn commit(
        &self,
        st: &mut State,
        rt: &ResourceType,
        key: ObjKey,
        kind: EventType,
        mut obj: Value,
        old: Option<Value>,
    ) -> Value {
        st.rv += 1;
        let rv = st.rv;
        object::set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        if kind != EventType::Deleted {
            st.objects
                .entry(key_of(rt))
                .or_default()
                .insert(key.clone(), obj.clone());
        }
        let ev = Arc::new(StoreEvent {
            rv,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            key,
            kind,
            object: obj.clone(),
            old,
        });
        st.history.push(ev.clone());
        if st.history.len() > MAX_HISTORY {
            let cut = MAX_HISTORY / 2;
            st.compacted = st.history.get(cut - 1).map(|e| e.rv).unwrap_or(st.compacted);
            st.history.drain(..cut);
        }
        // No receivers is fine.
        let _ = self.shared.tx.send(ev);
        obj
    }
}
