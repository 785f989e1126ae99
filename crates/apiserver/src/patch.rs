//! Patches: JSON merge patch (RFC 7386, also used for strategic merge patch on built-in kinds) and
//! JSON patch (RFC 6902).

use serde_json::Value;

use super::status::ApiError;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), ApiError> {
    if path.is_empty() {
        return Err(ApiError::bad_request(
            "json patch: the whole document cannot be the target",
        ));
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| ApiError::bad_request(format!("json patch: invalid path {path:?}")))?;
    Ok((parent.to_string(), unescape(last)))
}

fn parent_mut<'a>(doc: &'a mut Value, parent: &str) -> Result<&'a mut Value, ApiError> {
    doc.pointer_mut(parent)
        .ok_or_else(|| ApiError::bad_request(format!("json patch: path {parent:?} does not exist")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let (parent, last) = split_pointer(path)?;
    match parent_mut(doc, &parent)? {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(arr) => {
            let idx = if last == "-" {
                arr.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("json patch: bad array index {last:?}")))?
            };
            if idx > arr.len() {
                return Err(ApiError::bad_request(format!(
                    "json patch: index {idx} out of range"
                )));
            }
            arr.insert(idx, value);
            Ok(())
        }
        _ => Err(ApiError::bad_request(format!(
            "json patch: cannot add to {parent:?}"
        ))),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, last) = split_pointer(path)?;
    let missing = || ApiError::bad_request(format!("json patch: path {path:?} does not exist"));
    match parent_mut(doc, &parent)? {
        Value::Object(map) => map.remove(&last).ok_or_else(missing),
        Value::Array(arr) => {
            let idx = last.parse::<usize>().map_err(|_| missing())?;
            if idx < arr.len() {
                Ok(arr.remove(idx))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// Applies an RFC 6902 JSON patch (add, remove, replace, move, copy, test), atomically.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch: the patch must be an array of operations"))?;
    let mut doc = target.clone();
    for op in ops {
        let field = |k: &str| {
            op.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request(format!("json patch: operation without {k:?}")))
        };
        let path = field("path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request("json patch: operation without \"value\""))
        };
        match field("op")? {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                let slot = doc.pointer_mut(path).ok_or_else(|| {
                    ApiError::bad_request(format!("json patch: path {path:?} does not exist"))
                })?;
                *slot = value()?;
            }
            "move" => {
                let v = remove(&mut doc, field("from")?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(field("from")?)
                    .cloned()
                    .ok_or_else(|| ApiError::bad_request("json patch: copy source does not exist"))?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(ApiError::invalid(
                        "",
                        "",
                        "",
                        format!("json patch: test failed at {path:?}"),
                    ));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "json patch: unknown operation {other:?}"
                )));
            }
        }
    }
    *target = doc;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "l": [1, 2]});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "remove", "path": "/l/0"},
                {"op": "test", "path": "/l/0", "value": 2},
            ]),
        )
        .map_err(|e| e.message)
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "3", "b/c": "2"}}, "l": [2, 3]})
        );
        let before = doc.clone();
        assert!(
            json_patch(
                &mut doc,
                &json!([{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/nope"}])
            )
            .is_err()
        );
        assert_eq!(doc, before, "a failed patch changes nothing");
    }
}
