//! Kubernetes protobuf request bodies, for the few objects kubectl sends that way: its typed
//! `create` subcommands (`kubectl create namespace X`, `kubectl create service clusterip`) post `application/vnd.kubernetes.protobuf`.
//! `kubectl auth can-i` posts its SelfSubjectAccessReview that way too.
//! Decodes the `k8s\0` envelope (`runtime.Unknown`) and a Namespace or a Service (ObjectMeta name,
//! generateName, namespace, labels, annotations; the spec fields `kubectl create` sets); any other
//! kind is 415. Responses are always JSON, which such clients accept too.

use serde_json::{Map, Value, json};

use super::resources::ResourceType;
use super::status::ApiError;

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

enum Field<'a> {
    Varint(u64),
    Fixed,
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (b, rest) = self.buf.split_first()?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn next_field(&mut self) -> Option<Result<(u64, Field<'a>), ()>> {
        if self.buf.is_empty() {
            return None;
        }
        let Some(key) = self.varint() else {
            return Some(Err(()));
        };
        let field = match key & 7 {
            0 => self.varint().map(Field::Varint),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                (self.buf.len() >= n).then(|| {
                    self.buf = &self.buf[n..];
                    Field::Fixed
                })
            }
            2 => self
                .varint()
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| {
                    (self.buf.len() >= len).then(|| {
                        let (b, rest) = self.buf.split_at(len);
                        self.buf = rest;
                        Field::Bytes(b)
                    })
                }),
            _ => None,
        };
        Some(field.map(|f| (key >> 3, f)).ok_or(()))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ApiError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next_field() {
        out.push(f.map_err(|()| ApiError::bad_request("malformed protobuf body"))?);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| ApiError::bad_request("protobuf string is not UTF-8"))
}

/// Inserts a string field unless empty (gogo-protobuf encodes empty strings; JSON omits them).
fn put_str(map: &mut Map<String, Value>, key: &str, b: &[u8]) -> Result<(), ApiError> {
    let v = string(b)?;
    if !v.is_empty() {
        map.insert(key.to_string(), json!(v));
    }
    Ok(())
}

fn map_entry(b: &[u8]) -> Result<(String, String), ApiError> {
    let (mut k, mut v) = (String::new(), String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(b)) => k = string(b)?,
            (2, Field::Bytes(b)) => v = string(b)?,
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let (mut meta, mut labels, mut annotations) = (Map::new(), Map::new(), Map::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                put_str(&mut meta, "name", b)?;
            }
            (2, Field::Bytes(b)) => {
                put_str(&mut meta, "generateName", b)?;
            }
            (3, Field::Bytes(b)) => {
                put_str(&mut meta, "namespace", b)?;
            }
            (11, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                labels.insert(k, json!(v));
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                annotations.insert(k, json!(v));
            }
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(Value::Object(meta))
}

fn namespace(b: &[u8]) -> Result<Value, ApiError> {
    let mut obj = json!({"apiVersion": "v1", "kind": "Namespace"});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(b)) => obj["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let finalizers: Vec<String> = fields(b)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(b)) => string(b).ok(),
                        _ => None,
                    })
                    .collect();
                if !finalizers.is_empty() {
                    obj["spec"] = json!({"finalizers": finalizers});
                }
            }
            _ => {}
        }
    }
    Ok(obj)
}

fn int(v: u64) -> Value {
    // int32 fields are varints of the two's complement value.
    let low = u32::try_from(v & 0xffff_ffff).unwrap_or_default();
    json!(i64::from(i32::from_ne_bytes(low.to_ne_bytes())))
}

fn service_port(b: &[u8]) -> Result<Value, ApiError> {
    let mut port = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                put_str(&mut port, "name", b)?;
            }
            (2, Field::Bytes(b)) => {
                put_str(&mut port, "protocol", b)?;
            }
            (3, Field::Varint(v)) => {
                port.insert("port".into(), int(v));
            }
            (4, Field::Bytes(b)) => {
                let (mut is_string, mut int_val, mut str_val) = (false, json!(0), String::new());
                for (n, f) in fields(b)? {
                    match (n, f) {
                        (1, Field::Varint(t)) => is_string = t == 1,
                        (2, Field::Varint(v)) => int_val = int(v),
                        (3, Field::Bytes(b)) => str_val = string(b)?,
                        _ => {}
                    }
                }
                port.insert(
                    "targetPort".into(),
                    if is_string { json!(str_val) } else { int_val },
                );
            }
            (5, Field::Varint(v)) if v != 0 => {
                port.insert("nodePort".into(), int(v));
            }
            _ => {}
        }
    }
    Ok(Value::Object(port))
}

fn service(b: &[u8]) -> Result<Value, ApiError> {
    let mut obj = json!({"apiVersion": "v1", "kind": "Service", "spec": {}});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(b)) => obj["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let (mut ports, mut selector, mut spec) = (Vec::new(), Map::new(), Map::new());
                for (n, f) in fields(b)? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => ports.push(service_port(b)?),
                        (2, Field::Bytes(b)) => {
                            let (k, v) = map_entry(b)?;
                            selector.insert(k, json!(v));
                        }
                        (3, Field::Bytes(b)) => {
                            put_str(&mut spec, "clusterIP", b)?;
                        }
                        (4, Field::Bytes(b)) => {
                            put_str(&mut spec, "type", b)?;
                        }
                        (10, Field::Bytes(b)) => {
                            put_str(&mut spec, "externalName", b)?;
                        }
                        _ => {}
                    }
                }
                if !ports.is_empty() {
                    spec.insert("ports".into(), Value::Array(ports));
                }
                if !selector.is_empty() {
                    spec.insert("selector".into(), Value::Object(selector));
                }
                obj["spec"] = Value::Object(spec);
            }
            _ => {}
        }
    }
    Ok(obj)
}

fn strings(b: &[u8], names: &[(u64, &str)]) -> Result<Value, ApiError> {
    let mut map = Map::new();
    for (n, f) in fields(b)? {
        if let (Some((_, key)), Field::Bytes(b)) = (names.iter().find(|(k, _)| *k == n), f) {
            put_str(&mut map, key, b)?;
        }
    }
    Ok(Value::Object(map))
}

fn access_review(b: &[u8]) -> Result<Value, ApiError> {
    let mut obj =
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}});
    for (n, f) in fields(b)? {
        if let (2, Field::Bytes(spec)) = (n, f) {
            for (n, f) in fields(spec)? {
                match (n, f) {
                    (1, Field::Bytes(b)) => {
                        obj["spec"]["resourceAttributes"] = strings(
                            b,
                            &[
                                (1, "namespace"),
                                (2, "verb"),
                                (3, "group"),
                                (4, "version"),
                                (5, "resource"),
                                (6, "subresource"),
                                (7, "name"),
                            ],
                        )?;
                    }
                    (2, Field::Bytes(b)) => {
                        obj["spec"]["nonResourceAttributes"] = strings(b, &[(1, "path"), (2, "verb")])?
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(obj)
}

/// Decodes a protobuf request body for `rt` into the JSON object it encodes.
pub fn decode(rt: &ResourceType, body: &[u8]) -> Result<Value, ApiError> {
    let unsupported =
        || ApiError::unsupported_media_type(&format!("{MEDIA_TYPE} for {}; send JSON", rt.kind));
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s envelope"))?;
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (n, f) in fields(type_meta)? {
                    if let (2, Field::Bytes(k)) = (n, f) {
                        kind = string(k)?;
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            (_, Field::Varint(_) | Field::Fixed | Field::Bytes(_)) => {}
        }
    }
    match (rt.group.as_str(), rt.plural.as_str(), kind.as_str()) {
        ("", "namespaces", "Namespace") => namespace(raw),
        ("", "services", "Service") => service(raw),
        ("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview") => access_review(raw),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, n: u8, b: &[u8]) {
        out.push(n << 3 | 2);
        out.push(u8::try_from(b.len()).unwrap());
        out.extend_from_slice(b);
    }

    #[test]
    fn decodes_a_namespace_like_kubectl_create_namespace_sends() {
        let mut label = Vec::new();
        field(&mut label, 1, b"team");
        field(&mut label, 2, b"net");
        let mut meta = Vec::new();
        field(&mut meta, 1, b"demo");
        field(&mut meta, 11, &label);
        let mut ns = Vec::new();
        field(&mut ns, 1, &meta);
        field(&mut ns, 2, &[]);
        let mut tm = Vec::new();
        field(&mut tm, 1, b"v1");
        field(&mut tm, 2, b"Namespace");
        let mut body = MAGIC.to_vec();
        field(&mut body, 1, &tm);
        field(&mut body, 2, &ns);
        let rt = ResourceType::builtins()
            .into_iter()
            .find(|t| t.plural == "namespaces")
            .unwrap();
        let obj = decode(&rt, &body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"team": "net"}}})
        );
        let svc = ResourceType::builtins()
            .into_iter()
            .find(|t| t.plural == "services")
            .unwrap();
        assert_eq!(decode(&svc, &body).map_err(|e| e.code).err(), Some(415));
    }
}
