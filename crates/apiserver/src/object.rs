//! What the server does to an object on its way into the store: defaulting of apiVersion and kind,
//! generated names, uid, timestamps, generation, immutable fields, CRD acceptance. Also the Kilo
//! Peer CRD.

use std::time::SystemTime;

use rand::Rng;
use serde_json::{Map, Value, json};

use super::resources::ResourceType;
use super::status::ApiError;
use super::time::rfc3339;

/// `metadata.<field>` as a string, `""` when absent.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Sets `metadata.<field>`, creating `metadata` if needed (no-op on a non-object).
pub fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(field.to_string(), value);
        }
    }
}

fn remove_meta(obj: &mut Value, field: &str) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove(field);
    }
}

fn random_uid() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let (a, rest) = hex.split_at(8);
    let (bb, rest) = rest.split_at(4);
    let (c, rest) = rest.split_at(4);
    let (d, e) = rest.split_at(4);
    // Version 4, variant 10.
    format!(
        "{a}-{bb}-4{}-{}{}-{e}",
        &c[1..],
        ['8', '9', 'a', 'b'][usize::from(b[8] & 3)],
        &d[1..]
    )
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Validates and completes an object for creation in namespace `ns` (`""` for cluster-scoped).
pub fn prepare_create(rt: &ResourceType, ns: &str, mut obj: Value) -> Result<Value, ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the request body is not a JSON object"));
    };
    let av = rt.api_version();
    for (field, want) in [("apiVersion", av.as_str()), ("kind", rt.kind.as_str())] {
        match map.get(field).and_then(Value::as_str) {
            None | Some("") => {
                map.insert(field.to_string(), Value::String(want.to_string()));
            }
            Some(got) if got != want => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({got}) does not match the expected API version ({want})"
                )));
            }
            Some(_) => {}
        }
    }
    if meta_str(&obj, "name").is_empty() {
        let prefix = meta_str(&obj, "generateName").to_string();
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.plural,
                "",
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    rt.kind
                ),
            ));
        }
        set_meta(
            &mut obj,
            "name",
            Value::String(format!("{prefix}{}", random_suffix())),
        );
    }
    if rt.namespaced {
        let body_ns = meta_str(&obj, "namespace");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        set_meta(&mut obj, "namespace", Value::String(ns.to_string()));
    } else {
        remove_meta(&mut obj, "namespace");
    }
    set_meta(&mut obj, "uid", Value::String(random_uid()));
    set_meta(
        &mut obj,
        "creationTimestamp",
        Value::String(rfc3339(SystemTime::now())),
    );
    set_meta(&mut obj, "generation", json!(1));
    remove_meta(&mut obj, "resourceVersion");
    remove_meta(&mut obj, "deletionTimestamp");
    if rt.group.is_empty() && rt.plural == "namespaces" {
        let name = Value::String(meta_str(&obj, "name").to_string());
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), name);
            }
        }
        if obj.pointer("/status/phase").is_none()
            && let Some(map) = obj.as_object_mut()
        {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        if obj.pointer("/spec/finalizers").is_none()
            && let Some(map) = obj.as_object_mut()
        {
            map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
        }
    }
    Ok(obj)
}

/// Validates an update of `old` to `new`: keeps identity and creation fields, carries over
/// managedFields the client did not send, bumps generation when anything outside metadata and
/// status changed. The caller sets resourceVersion.
pub fn prepare_update(rt: &ResourceType, old: &Value, mut new: Value) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request("the request body is not a JSON object"));
    }
    let name = meta_str(old, "name").to_string();
    if !meta_str(&new, "name").is_empty() && meta_str(&new, "name") != name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let new_ns = meta_str(&new, "namespace");
    if rt.namespaced && !new_ns.is_empty() && new_ns != meta_str(old, "namespace") {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    for (field, want) in [("apiVersion", rt.api_version()), ("kind", rt.kind.clone())] {
        if let Some(map) = new.as_object_mut() {
            match map.get(field).and_then(Value::as_str) {
                None | Some("") => {
                    map.insert(field.to_string(), Value::String(want));
                }
                Some(got) if got != want => {
                    return Err(ApiError::bad_request(format!(
                        "{field} {got} does not match {want}"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "resourceVersion",
    ] {
        match old.get("metadata").and_then(|m| m.get(field)) {
            Some(v) => set_meta(&mut new, field, v.clone()),
            None => remove_meta(&mut new, field),
        }
    }
    if new.pointer("/metadata/managedFields").is_none()
        && let Some(mf) = old.pointer("/metadata/managedFields")
    {
        set_meta(&mut new, "managedFields", mf.clone());
    }
    if spec_part(old) != spec_part(&new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(&mut new, "generation", json!(generation + 1));
    }
    Ok(new)
}

/// The object without metadata and status: what `generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    v
}

/// Checks a CustomResourceDefinition, fills its status as an established CRD, and returns the
/// resource it defines.
pub fn accept_crd(crd: &mut Value) -> Result<ResourceType, ApiError> {
    let name = meta_str(crd, "name").to_string();
    let invalid = |msg: &str| {
        ApiError::invalid(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            &name,
            format!("CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: {msg}"),
        )
    };
    let rt = ResourceType::from_crd(crd).ok_or_else(|| {
        invalid("spec: Required value: group, names.plural, names.kind and a served version are required")
    })?;
    if name != rt.qualified_name() {
        return Err(invalid(&format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        )));
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let now = rfc3339(SystemTime::now());
    if let Some(map) = crd.as_object_mut() {
        map.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "storedVersions": [rt.version],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
            }),
        );
    }
    Ok(rt)
}

/// The Kilo Peer CustomResourceDefinition (`peers.kilo.squat.ai`, cluster-scoped, v1alpha1), as in
/// Kilo's manifests, with printer columns for `kubectl get peers`.
pub fn kilo_peer_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "peers.kilo.squat.ai"},
        "spec": {
            "group": "kilo.squat.ai",
            "names": {"kind": "Peer", "listKind": "PeerList", "plural": "peers", "singular": "peer"},
            "scope": "Cluster",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "additionalPrinterColumns": [
                    {"name": "Allowed-IPs", "type": "string", "jsonPath": ".spec.allowedIPs", "description": "The IPs the peer may use"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    {"name": "Endpoint", "type": "string", "jsonPath": ".spec.endpoint.dnsOrIP.ip", "priority": 1, "description": "The peer's endpoint IP"},
                    {"name": "Public-Key", "type": "string", "jsonPath": ".spec.publicKey", "priority": 1, "description": "The peer's WireGuard public key"},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "Peer is a WireGuard peer that should have access to the VPN.",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "required": ["allowedIPs", "publicKey"],
                            "properties": {
                                "allowedIPs": {"type": "array", "items": {"type": "string"}},
                                "endpoint": {"type": "object", "properties": {
                                    "dnsOrIP": {"type": "object", "properties": {"dns": {"type": "string"}, "ip": {"type": "string"}}},
                                    "port": {"type": "integer", "maximum": 65535, "minimum": 1},
                                }, "required": ["dnsOrIP", "port"]},
                                "persistentKeepalive": {"type": "integer", "minimum": 0},
                                "presharedKey": {"type": "string"},
                                "publicKey": {"type": "string"},
                            },
                        },
                    },
                }},
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_look_like_v4_uuids() {
        let uid = random_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(uid.as_bytes()[14], b'4');
    }
}
