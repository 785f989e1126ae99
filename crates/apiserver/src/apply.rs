//! Server-side apply (`application/apply-patch+yaml`), with a simplified field-ownership model.
//!
//! What is modelled: every apply records, per field manager, the set of fields it applied (leaf
//! paths; lists are atomic) in `metadata.managedFields` (`operation: Apply`, `fieldsType: FieldsV1`).
//! Re-applying merges the applied fields into the object and removes the fields the manager applied
//! before but no longer applies (unless another manager also owns them). Applying a field another
//! apply manager owns with a different value is a 409 Conflict unless `force=true`, which transfers
//! ownership.
//!
//! What is simplified: updates and patches that are not applies do not record ownership, so they
//! never conflict with an apply; list items are not merged by key (lists are replaced whole).

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::object::meta_str;
use super::resources::ResourceType;
use super::status::ApiError;
use super::time::rfc3339;

type Path = Vec<String>;

/// Parses an apply body: YAML or JSON (JSON is YAML).
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the apply body must be an object"));
    }
    Ok(v)
}

/// Computes the object after `manager` applies `applied` to `current` (`None`: create).
pub fn apply(
    rt: &ResourceType,
    current: Option<&Value>,
    mut applied: Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApiError> {
    if applied.get("apiVersion").and_then(Value::as_str) != Some(rt.api_version().as_str())
        || applied.get("kind").and_then(Value::as_str) != Some(rt.kind.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "apply: apiVersion and kind must be {} {}",
            rt.api_version(),
            rt.kind
        )));
    }
    if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    let new_fields = leaves(&applied);
    let Some(current) = current else {
        let mut obj = applied;
        set_managed(&mut obj, vec![entry(rt, manager, &new_fields)]);
        return Ok(obj);
    };
    let mut entries: Vec<Value> = current
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_mine = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
    };
    let prev_fields = entries
        .iter()
        .find(|e| is_mine(e))
        .map(entry_fields)
        .unwrap_or_default();

    let mut conflicts = Vec::new();
    for e in entries.iter_mut().filter(|e| !is_mine(e)) {
        let owned = entry_fields(e);
        let clashing: BTreeSet<Path> = owned
            .iter()
            .filter(|p| new_fields.iter().any(|n| overlaps(n, p)))
            .filter(|p| get_path(current, p) != get_path(&applied, p))
            .cloned()
            .collect();
        if clashing.is_empty() {
            continue;
        }
        let other = e
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if force {
            let kept: BTreeSet<Path> = owned.difference(&clashing).cloned().collect();
            set_entry_fields(e, &kept);
        } else {
            conflicts.extend(
                clashing
                    .iter()
                    .map(|p| format!("conflict with \"{other}\": .{}", p.join("."))),
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(ApiError::apply_conflict(format!(
            "Apply failed with {} conflict(s): {}",
            conflicts.len(),
            conflicts.join("; ")
        )));
    }

    let others: BTreeSet<Path> = entries
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(entry_fields)
        .collect();
    let mut obj = current.clone();
    for p in prev_fields.difference(&new_fields) {
        if !others.iter().any(|o| overlaps(o, p)) {
            remove_path(&mut obj, p);
        }
    }
    deep_merge(&mut obj, &applied);
    // Keep this manager's entry (and its time) when its field set is unchanged, so that
    // re-applying the same configuration is a no-op, as in kube-apiserver.
    match entries.iter().position(is_mine) {
        Some(i) if entry_fields(&entries[i]) == new_fields => {}
        Some(i) => entries[i] = entry(rt, manager, &new_fields),
        None => entries.push(entry(rt, manager, &new_fields)),
    }
    entries.retain(|e| !entry_fields(e).is_empty());
    set_managed(&mut obj, entries);
    if meta_str(&obj, "name").is_empty() {
        return Err(ApiError::bad_request("apply: metadata.name is required"));
    }
    Ok(obj)
}

fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Leaf paths of an applied object, without identity and server-set metadata.
fn leaves(obj: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    if path.is_empty() && (k == "apiVersion" || k == "kind") {
                        continue;
                    }
                    if path.len() == 1
                        && path[0] == "metadata"
                        && [
                            "name",
                            "namespace",
                            "uid",
                            "resourceVersion",
                            "generation",
                            "creationTimestamp",
                            "managedFields",
                        ]
                        .contains(&k.as_str())
                    {
                        continue;
                    }
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(obj, &mut Vec::new(), &mut out);
    out
}

fn get_path<'a>(v: &'a Value, p: &Path) -> Option<&'a Value> {
    p.iter().try_fold(v, |cur, k| cur.get(k))
}

fn remove_path(v: &mut Value, p: &Path) {
    let Some((last, parents)) = p.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.remove(last);
    }
}

fn deep_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

/// `{"f:spec": {"f:allowedIPs": {}}}` form of a set of paths.
fn to_fields_v1(fields: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in fields {
        let mut cur = &mut root;
        for k in p {
            let next = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Some(map) = next.as_object_mut() else { break };
            cur = map;
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, child) in children {
            path.push(k.trim_start_matches("f:").to_string());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn entry_fields(e: &Value) -> BTreeSet<Path> {
    e.get("fieldsV1").map(from_fields_v1).unwrap_or_default()
}

fn set_entry_fields(e: &mut Value, fields: &BTreeSet<Path>) {
    if let Some(map) = e.as_object_mut() {
        map.insert("fieldsV1".into(), to_fields_v1(fields));
    }
}

fn entry(rt: &ResourceType, manager: &str, fields: &BTreeSet<Path>) -> Value {
    json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": rt.api_version(),
        "time": rfc3339(SystemTime::now()),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(fields),
    })
}

fn set_managed(obj: &mut Value, entries: Vec<Value>) {
    super::object::set_meta(obj, "managedFields", Value::Array(entries));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer_rt() -> ResourceType {
        ResourceType::from_crd(&super::super::object::kilo_peer_crd()).unwrap()
    }

    fn peer(ips: &[&str], keepalive: Option<i64>) -> Value {
        let mut spec = json!({"allowedIPs": ips, "publicKey": "k"});
        if let Some(k) = keepalive {
            spec["persistentKeepalive"] = json!(k);
        }
        json!({"apiVersion": "kilo.squat.ai/v1alpha1", "kind": "Peer", "metadata": {"name": "laptop"}, "spec": spec})
    }

    #[test]
    fn reapply_removes_dropped_fields_and_records_the_manager() {
        let rt = peer_rt();
        let created = apply(&rt, None, peer(&["10.5.0.1/32"], Some(10)), "kubewire", false).unwrap();
        assert_eq!(
            created.pointer("/metadata/managedFields/0/manager"),
            Some(&json!("kubewire"))
        );
        assert_eq!(
            created.pointer("/metadata/managedFields/0/fieldsV1/f:spec/f:persistentKeepalive"),
            Some(&json!({}))
        );
        let updated = apply(
            &rt,
            Some(&created),
            peer(&["10.5.0.2/32"], None),
            "kubewire",
            false,
        )
        .unwrap();
        assert_eq!(updated.pointer("/spec/allowedIPs"), Some(&json!(["10.5.0.2/32"])));
        assert_eq!(updated.pointer("/spec/persistentKeepalive"), None);
    }

    #[test]
    fn another_manager_conflicts_unless_forced() {
        let rt = peer_rt();
        let created = apply(&rt, None, peer(&["10.5.0.1/32"], None), "kubewire", false).unwrap();
        let err = apply(&rt, Some(&created), peer(&["10.9.0.1/32"], None), "other", false).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(err.message.contains("kubewire"), "{}", err.message);
        let same = apply(&rt, Some(&created), peer(&["10.5.0.1/32"], None), "other", false);
        assert!(same.is_ok(), "same values do not conflict");
        let again = apply(
            &rt,
            Some(&created),
            peer(&["10.5.0.1/32"], None),
            "kubewire",
            false,
        )
        .unwrap();
        assert_eq!(
            again, created,
            "re-applying the same configuration changes nothing"
        );
        let forced = apply(&rt, Some(&created), peer(&["10.9.0.1/32"], None), "other", true).unwrap();
        assert_eq!(forced.pointer("/spec/allowedIPs"), Some(&json!(["10.9.0.1/32"])));
    }
}
