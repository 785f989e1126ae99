//! Just enough OpenAPI for kubectl: `/openapi/v3` lists a document per served group/version, and
//! each document declares the PATCH operation of every resource with the `fieldValidation` query
//! parameter. kubectl then validates server-side (sending `fieldValidation=Strict`) instead of
//! downloading schemas for client-side validation. No strategic-merge content type is declared, so
//! `kubectl apply` uses its built-in patch metadata for built-in kinds and JSON merge patch for
//! custom resources. `/openapi/v2` is an empty Swagger document, in JSON or (for kubectl 1.20)
//! protobuf (served as `application/octet-stream`, as kube-openapi does). The double does not validate
//! fields (documented simplification).

use serde_json::{Map, Value, json};

use super::resources::{Registry, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the discovery root.
pub fn v3_root(reg: &Registry) -> Value {
    let mut gvs: Vec<(String, String)> = vec![(String::new(), "v1".to_string())];
    gvs.extend(reg.groups());
    let paths: Map<String, Value> = gvs
        .iter()
        .map(|(g, v)| {
            let p = gv_path(g, v);
            let url = format!("/openapi/v3/{p}?hash=kubewire-lab");
            (p, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

fn patch_op(rt: &ResourceType) -> Value {
    let query =
        |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let any = json!({"schema": {"type": "object"}});
    json!({
        "patch": {
            "operationId": format!("patch{}", rt.kind),
            "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
            "requestBody": {"content": {
                "application/apply-patch+yaml": any,
                "application/json-patch+json": any,
                "application/merge-patch+json": any,
            }},
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        }
    })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; `None` if not served.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let paths: Map<String, Value> = served
        .iter()
        .map(|rt| {
            let collection = rt.collection_path(Some("{namespace}"));
            (format!("{collection}/{{name}}"), patch_op(rt))
        })
        .collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v2`: a valid, empty Swagger document.
pub fn v2() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": super::discovery::GIT_VERSION}, "paths": {}, "definitions": {}})
}

/// The media type older kubectl (1.20, Debian's) asks `/openapi/v2` for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// `/openapi/v2` as the gnostic `openapi_v2.Document` protobuf: `swagger` (field 1) and `info`
/// (field 2: `title` 1, `version` 2), nothing else.
pub fn v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push(number << 3 | 2);
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push(u8::try_from(len & 0x7f).unwrap_or(0) | 0x80);
            len >>= 7;
        }
        out.push(u8::try_from(len).unwrap_or(0));
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, super::discovery::GIT_VERSION.as_bytes());
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_protobuf_is_length_delimited_fields() {
        let doc = v2_protobuf();
        assert_eq!(&doc[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(doc[5], 0x12);
        assert_eq!(usize::from(doc[6]), doc.len() - 7);
    }
}
