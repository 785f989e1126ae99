//! Operations on objects by resource type, under the store lock: what the HTTP handlers and the
//! public [`Store`] API run. Every change goes through `commit`, which assigns the next
//! resourceVersion, records the event in the history and notifies watchers.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::endpointslices;
use super::object::{self, meta_str};
use super::resources::ResourceType;
use super::services;
use super::status::ApiError;
use super::store::{EventType, MAX_HISTORY, ObjKey, ResKey, State, Store, StoreEvent};

/// What a watch starts from.
pub(crate) struct Subscription {
    /// Events to send first: synthetic `ADDED`s for a watch from "now", or the replayed history.
    pub initial: Vec<Arc<StoreEvent>>,
    /// Live events (of every resource; the watcher filters).
    pub rx: broadcast::Receiver<Arc<StoreEvent>>,
    /// The resourceVersion the initial events bring the watcher to.
    pub rv: u64,
}

pub(super) fn key_of(rt: &ResourceType) -> ResKey {
    (rt.group.clone(), rt.plural.clone())
}

pub(super) fn ns_key(rt: &ResourceType, namespace: Option<&str>) -> String {
    if rt.namespaced {
        namespace.unwrap_or("default").to_string()
    } else {
        String::new()
    }
}

impl Store {
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
        admit(&mut st, rt, &key, None, &mut obj, dry_run)?;
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
            admit(&mut st, rt, &key, None, &mut obj, dry_run)?;
            if dry_run {
                return Ok((obj, true));
            }
            return Ok((self.commit(&mut st, rt, key, EventType::Added, obj, None), true));
        };
        let mut obj = object::prepare_update(rt, &old, next)?;
        admit(&mut st, rt, &key, Some(&old), &mut obj, dry_run)?;
        if obj == old {
            return Ok((old, false));
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

/// Kind-specific admission: a CRD makes its resource served; a Service gets defaults and a ClusterIP.
fn admit(
    st: &mut State,
    rt: &ResourceType,
    key: &ObjKey,
    old: Option<&Value>,
    obj: &mut Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let crd_rt = object::accept_crd(obj)?;
            if let Some(old) = old
                && old.pointer("/status/acceptedNames") == obj.pointer("/status/acceptedNames")
                && let (Some(status), Some(map)) = (old.get("status"), obj.as_object_mut())
            {
                map.insert("status".into(), status.clone());
            }
            if !dry_run {
                st.registry.register(crd_rt);
            }
        }
        ("", "services") => {
            let used: BTreeSet<Ipv4Addr> = st
                .objects
                .get(&key_of(rt))
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| *k != key)
                        .filter_map(|(_, svc)| svc.pointer("/spec/clusterIP")?.as_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            services::admit(obj, old, st.service_cidr, &used)?;
        }
        ("discovery.k8s.io", "endpointslices") => endpointslices::admit(obj, old)?,
        _ => {}
    }
    Ok(())
}
