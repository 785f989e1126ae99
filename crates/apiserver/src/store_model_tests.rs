//! A reference-model test of the store's history: random operation sequences are applied to the
//! store and to a plain map, and after each one the invariants that lists and watches rely on are
//! checked: a list at any kept resourceVersion equals the model's state then, a watch from any kept
//! resourceVersion replays to the current state, no-op updates change nothing, and compaction turns
//! older versions into 410 Gone.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::object::meta_str;
use super::store::{EventType, Store};

type Model = BTreeMap<String, String>;

fn node_rt(store: &Store) -> super::resources::ResourceType {
    store.registry().by_kind("v1", "Node").cloned().unwrap()
}

fn state_of(items: &[Value]) -> Model {
    items
        .iter()
        .map(|n| {
            (
                meta_str(n, "name").to_string(),
                n["metadata"]["labels"]["v"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn replay(mut state: Model, events: &[std::sync::Arc<super::store::StoreEvent>]) -> Model {
    for ev in events {
        let name = ev.key.1.clone();
        match ev.kind {
            EventType::Added | EventType::Modified => {
                state.insert(
                    name,
                    ev.object["metadata"]["labels"]["v"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            EventType::Deleted => {
                state.remove(&name);
            }
        }
    }
    state
}

#[test]
fn lists_and_watches_agree_with_a_reference_model() {
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let store = Store::new();
        let rt = node_rt(&store);
        let mut model = Model::new();
        let mut history: Vec<(u64, Model)> = vec![(store.resource_version(), model.clone())];
        for step in 0..150 {
            let name = format!("n{}", rng.random_range(0..6));
            let value = format!("{}", rng.random_range(0..3));
            let before = store.resource_version();
            match rng.random_range(0..10) {
                0..4 => {
                    let res = store.create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"v": value}}}));
                    assert_eq!(res.is_ok(), !model.contains_key(&name), "seed {seed} step {step}");
                    model.entry(name).or_insert(value);
                }
                4..8 => {
                    let res = store.update("v1", "Node", None, &name, |n| {
                        n["metadata"]["labels"]["v"] = json!(value)
                    });
                    assert_eq!(res.is_ok(), model.contains_key(&name));
                    if let Some(v) = model.get_mut(&name) {
                        let noop = *v == value;
                        *v = value;
                        assert_eq!(
                            store.resource_version() == before,
                            noop,
                            "no-op updates keep the resourceVersion"
                        );
                    }
                }
                8 => {
                    assert_eq!(
                        store.delete("v1", "Node", None, &name).is_ok(),
                        model.remove(&name).is_some()
                    );
                }
                _ => {
                    // Another kind's changes must not leak into node lists or watches.
                    let _ = store.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": {"clusterIP": "None"}}));
                }
            }
            history.push((store.resource_version(), model.clone()));

            let (now, rv) = store.list_at(&rt, None, None).unwrap();
            assert_eq!(state_of(&now), model, "seed {seed} step {step}");
            assert_eq!(rv, store.resource_version());
            // Check a few random earlier versions.
            for _ in 0..3 {
                let (at, expected) = &history[rng.random_range(0..history.len())];
                let (items, list_rv) = store.list_at(&rt, None, Some(*at)).unwrap();
                assert_eq!(&state_of(&items), expected, "seed {seed}: list at {at}");
                assert_eq!(list_rv, *at);
                let sub = store.subscribe(&rt, Some(*at)).unwrap();
                assert_eq!(
                    replay(expected.clone(), &sub.initial),
                    model,
                    "seed {seed}: watch from {at}"
                );
                assert!(sub.initial.windows(2).all(|w| w[0].rv < w[1].rv));
            }
        }
        let from_now = store.subscribe(&rt, None).unwrap();
        assert_eq!(replay(Model::new(), &from_now.initial), model);

        let (old, _) = history[history.len() / 2].clone();
        store.compact();
        if old < store.resource_version() {
            assert_eq!(
                store.list_at(&rt, None, Some(old)).map_err(|e| e.code).err(),
                Some(410)
            );
            assert_eq!(
                store
                    .subscribe(&rt, Some(old))
                    .map(|_| ())
                    .map_err(|e| e.code)
                    .err(),
                Some(410)
            );
        }
        assert!(store.subscribe(&rt, Some(store.resource_version())).is_ok());
    }
}
