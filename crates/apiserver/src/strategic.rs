//! Strategic merge patch for the built-in kinds the double serves: JSON merge patch plus the
//! directives kubectl sends (`$patch: delete|replace|merge`, `$setElementOrder/<field>`,
//! `$deleteFromPrimitiveList/<field>`, `$retainKeys`) and merging of the lists that have a
//! `patchMergeKey` in the Kubernetes API (services' ports, nodes' addresses and conditions, ...).
//! Lists without a merge key are replaced, as in kube-apiserver.

use serde_json::{Map, Value};

/// The merge key of the list at `path` (object field names from the root), if it is merged.
fn merge_key(path: &[&str]) -> Option<&'static str> {
    match path {
        ["spec", "ports"] => Some("port"),
        ["status", "addresses"] | ["status", "conditions"] => Some("type"),
        ["metadata", "ownerReferences"] => Some("uid"),
        _ => None,
    }
}

/// Lists of primitives that merge (patchStrategy merge without a key).
fn merges_primitives(path: &[&str]) -> bool {
    matches!(path, ["metadata", "finalizers"] | ["spec", "finalizers"])
}

/// Applies a strategic merge patch to an object of a built-in kind.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    merge_map(target, patch, &mut Vec::new());
}

fn merge_map<'a>(target: &mut Value, patch: &'a Value, path: &mut Vec<&'a str>) {
    let Value::Object(pmap) = patch else {
        *target = patch.clone();
        return;
    };
    match pmap.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(pmap));
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tmap) = target else { return };
    if let Some(Value::Array(keep)) = pmap.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        tmap.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in pmap {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (tmap.get_mut(field), v) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            tmap.remove(k);
            continue;
        }
        path.push(k.as_str());
        let slot = tmap.entry(k.clone()).or_insert(Value::Null);
        match v {
            Value::Array(items) => merge_list(slot, items, path),
            Value::Object(_) => {
                merge_map(slot, v, path);
                if slot.is_null() {
                    tmap.remove(k);
                }
            }
            _ => *slot = v.clone(),
        }
        path.pop();
    }
    for (k, v) in pmap {
        if let (Some(field), Value::Array(order)) = (k.strip_prefix("$setElementOrder/"), v)
            && let Some(Value::Array(items)) = tmap.get_mut(field)
        {
            reorder(items, order, merge_key_of(path, field));
        }
    }
}

fn merge_key_of(path: &[&str], field: &str) -> Option<&'static str> {
    let mut full: Vec<&str> = path.to_vec();
    full.push(field);
    merge_key(&full)
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list<'a>(slot: &mut Value, items: &'a [Value], path: &mut Vec<&'a str>) {
    if let Some(key) = merge_key(path) {
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        let Value::Array(current) = slot else { return };
        for item in items {
            let id = item.get(key);
            let pos = current.iter().position(|c| id.is_some() && c.get(key) == id);
            if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                if let Some(p) = pos {
                    current.remove(p);
                }
                continue;
            }
            match pos {
                Some(p) => merge_map(&mut current[p], item, path),
                None => current.push(Value::Object(
                    item.as_object().map(strip_directives).unwrap_or_default(),
                )),
            }
        }
    } else if merges_primitives(path) {
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(current) = slot {
            for item in items {
                if !current.contains(item) {
                    current.push(item.clone());
                }
            }
        }
    } else {
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(|i| match i {
                Value::Object(m) => Value::Object(strip_directives(m)),
                other => other.clone(),
            })
            .collect();
        *slot = Value::Array(kept);
    }
}

fn reorder(items: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    };
    let order_ids: Vec<Value> = order.iter().filter_map(id).collect();
    let mut sorted: Vec<Value> = Vec::with_capacity(items.len());
    for oid in &order_ids {
        if let Some(p) = items.iter().position(|i| id(i).as_ref() == Some(oid)) {
            sorted.push(items.remove(p));
        }
    }
    sorted.append(items);
    *items = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_service_ports_by_port_with_kubectl_directives() {
        let mut svc = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "selector": {"a": "b"}}});
        let patch = json!({"spec": {
            "$setElementOrder/ports": [{"port": 8080}, {"port": 53}],
            "ports": [{"port": 8080, "protocol": "TCP"}, {"$patch": "delete", "port": 80}, {"port": 53, "name": "dns"}],
            "selector": {"$patch": "replace", "c": "d"},
        }});
        strategic_merge_patch(&mut svc, &patch);
        assert_eq!(
            svc,
            json!({"spec": {
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "name": "dns"}],
                "selector": {"c": "d"},
            }})
        );
    }

    #[test]
    fn plain_fields_behave_like_merge_patch() {
        let mut node = json!({"metadata": {"annotations": {"a": "1", "b": "2"}, "finalizers": ["x"]}, "spec": {"taints": [{"key": "k"}]}});
        strategic_merge_patch(
            &mut node,
            &json!({"metadata": {"annotations": {"a": null, "c": "3"}, "finalizers": ["y"], "$deleteFromPrimitiveList/finalizers": ["x"]}, "spec": {"taints": []}}),
        );
        assert_eq!(
            node,
            json!({"metadata": {"annotations": {"b": "2", "c": "3"}, "finalizers": ["y"]}, "spec": {"taints": []}})
        );
    }
}
