//! The verbs on a resolved resource path: get, list/watch, create, update, patch (merge,
//! strategic merge, JSON patch, server-side apply), delete, deletecollection, and the `status`
//! subresource. Writes to the main resource of a kind with a status subresource leave `status`
//! alone; writes to `/status` change only `status`, as in kube-apiserver.

use http::{Method, Response};
use serde_json::{Value, json};

use super::apply;
use super::http::{Body, Query, json_response};
use super::list;
use super::object::{meta_str, set_meta};
use super::patch::{json_patch, merge_patch};
use super::protobuf;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;
use super::strategic::strategic_merge_patch;
use super::table::{partial_metadata, table};
use super::watch::Format;

/// A request on a resource path.
#[derive(Debug)]
pub struct ResourceRequest<'a> {
    /// The resource.
    pub rt: &'a ResourceType,
    /// Namespace from the path.
    pub namespace: Option<&'a str>,
    /// Object name from the path (`None`: the collection).
    pub name: Option<&'a str>,
    /// Subresource from the path (only `status` is served).
    pub subresource: Option<&'a str>,
    /// Query parameters.
    pub q: &'a Query,
    /// Response rendering (from the Accept header).
    pub format: Format,
    /// Request media type without parameters.
    pub content_type: &'a str,
    /// Request body.
    pub body: &'a [u8],
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// A posted object: JSON, or the protobuf some kubectl commands send.
pub fn decode_body(rt: &ResourceType, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type == protobuf::MEDIA_TYPE {
        protobuf::decode(rt, body)
    } else {
        parse_json(body)
    }
}

/// Serves one request on a resource path.
pub fn dispatch(store: &Store, method: &Method, r: &ResourceRequest<'_>) -> Result<Response<Body>, ApiError> {
    let (rt, ns, q) = (r.rt, r.namespace, r.q);
    let dry_run = q.get("dryRun") == Some("All");
    if r.subresource.is_some() && !matches!(*method, Method::GET | Method::PUT | Method::PATCH) {
        return Err(ApiError::method_not_allowed(method.as_str()));
    }
    match (method, r.name) {
        (&Method::GET, None) if q.flag("watch") => list::watch(store, rt, ns, q, r.format),
        (&Method::GET, None) => list::list(store, rt, ns, q, r.format),
        (&Method::GET, Some(name)) => {
            let obj = store.get_at(rt, ns, name)?;
            Ok(json_response(200, &render_one(rt, &obj, r.format)))
        }
        (&Method::POST, None) if rt.namespaced && ns.is_none() => Err(ApiError::method_not_allowed("POST")),
        (&Method::POST, None) => {
            let obj = store.create_at(rt, ns, decode_body(rt, r.content_type, r.body)?, dry_run)?;
            Ok(json_response(201, &obj))
        }
        (&Method::PUT, Some(_)) if r.content_type == protobuf::MEDIA_TYPE => Err(ApiError::unsupported_body(
            "the API test double accepts updates only as JSON",
        )),
        (&Method::PUT, Some(name)) => {
            let new = parse_json(r.body)?;
            let obj = store.modify_at(rt, ns, name, dry_run, |obj| {
                check_rv(rt, name, &new, obj)?;
                *obj = scoped(rt, r.subresource, obj, new.clone());
                Ok(())
            })?;
            Ok(json_response(200, &obj))
        }
        (&Method::PATCH, Some(name)) => patch(store, r, name, dry_run),
        (&Method::DELETE, Some(name)) => {
            let opts = delete_options(r.body)?;
            let dry_run = dry_run || opts.pointer("/dryRun/0").and_then(Value::as_str) == Some("All");
            let obj = store.delete_at(rt, ns, name, dry_run, |current| {
                preconditions(rt, name, &opts, current)
            })?;
            Ok(json_response(200, &obj))
        }
        (&Method::DELETE, None) => delete_collection(store, r, dry_run),
        (m, _) => Err(ApiError::method_not_allowed(m.as_str())),
    }
}

/// What a write may change: `/status` changes only `status`; the main resource of a kind with a
/// status subresource changes everything but `status`.
fn scoped(rt: &ResourceType, subresource: Option<&str>, current: &Value, next: Value) -> Value {
    fn copy_status(from: &Value, into: &mut Value) {
        if let Some(map) = into.as_object_mut() {
            match from.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
    }
    if subresource == Some("status") {
        let mut out = current.clone();
        copy_status(&next, &mut out);
        out
    } else if rt.status_subresource {
        let mut out = next;
        copy_status(current, &mut out);
        out
    } else {
        next
    }
}

/// A non-empty `metadata.resourceVersion` in a write must be the current one (optimistic concurrency).
fn check_rv(rt: &ResourceType, name: &str, sent: &Value, current: &Value) -> Result<(), ApiError> {
    let want = meta_str(sent, "resourceVersion");
    if !want.is_empty() && want != meta_str(current, "resourceVersion") {
        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
    }
    Ok(())
}

fn patch(
    store: &Store,
    r: &ResourceRequest<'_>,
    name: &str,
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let (rt, ns) = (r.rt, r.namespace);
    let patched = |f: &dyn Fn(&mut Value) -> Result<(), ApiError>| {
        store.modify_at(rt, ns, name, dry_run, |obj| {
            let mut next = obj.clone();
            f(&mut next)?;
            *obj = scoped(rt, r.subresource, obj, next);
            Ok(())
        })
    };
    let obj = match r.content_type {
        "application/merge-patch+json" => {
            let p = parse_json(r.body)?;
            patched(&|obj| {
                check_rv(rt, name, &p, obj)?;
                merge_patch(obj, &p);
                Ok(())
            })?
        }
        "application/strategic-merge-patch+json" if !rt.custom => {
            let p = parse_json(r.body)?;
            patched(&|obj| {
                check_rv(rt, name, &p, obj)?;
                strategic_merge_patch(obj, &p);
                Ok(())
            })?
        }
        "application/json-patch+json" => {
            let p = parse_json(r.body)?;
            patched(&|obj| json_patch(obj, &p))?
        }
        "application/apply-patch+yaml" => return server_side_apply(store, r, name, dry_run),
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    Ok(json_response(200, &obj))
}

fn server_side_apply(
    store: &Store,
    r: &ResourceRequest<'_>,
    name: &str,
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let rt = r.rt;
    let manager = r.q.non_empty("fieldManager").ok_or_else(|| {
        ApiError::bad_request("PATCH requests with apply content type require fieldManager")
    })?;
    let force = r.q.flag("force");
    let mut applied = apply::parse_body(r.body)?;
    let applied_name = meta_str(&applied, "name");
    if !applied_name.is_empty() && applied_name != name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    if applied_name.is_empty() {
        set_meta(&mut applied, "name", Value::String(name.to_string()));
    }
    let (obj, created) = store.upsert_at(rt, r.namespace, name, dry_run, |current| match current {
        Some(current) => {
            let next = apply::apply(rt, Some(current), applied.clone(), manager, force)?;
            Ok(scoped(rt, r.subresource, current, next))
        }
        None if r.subresource.is_some() => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
        None => apply::apply(rt, None, applied.clone(), manager, force),
    })?;
    Ok(json_response(if created { 201 } else { 200 }, &obj))
}

/// The DeleteOptions body, if any (`{}` when empty).
fn delete_options(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(json!({}))
    } else {
        parse_json(body)
    }
}

/// DeleteOptions `preconditions`: uid and resourceVersion must match, else 409 Conflict.
fn preconditions(rt: &ResourceType, name: &str, opts: &Value, current: &Value) -> Result<(), ApiError> {
    for field in ["uid", "resourceVersion"] {
        if let Some(want) = opts
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
        {
            let got = meta_str(current, field);
            if want != got {
                let mut err = ApiError::conflict(&rt.group, &rt.plural, name);
                err.message = format!(
                    "Precondition failed: {field} in precondition: {want}, {field} in object meta: {got}"
                );
                return Err(err);
            }
        }
    }
    Ok(())
}

fn delete_collection(
    store: &Store,
    r: &ResourceRequest<'_>,
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let opts = delete_options(r.body)?;
    let dry_run = dry_run || opts.pointer("/dryRun/0").and_then(Value::as_str) == Some("All");
    let mut deleted = Vec::new();
    for obj in list::matching(store, r.rt, r.namespace, r.q)? {
        let (obj_ns, name) = (
            meta_str(&obj, "namespace").to_string(),
            meta_str(&obj, "name").to_string(),
        );
        let obj_ns = Some(obj_ns.as_str()).filter(|n| !n.is_empty());
        match store.delete_at(r.rt, obj_ns, &name, dry_run, |_| Ok(())) {
            Ok(obj) => deleted.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", r.rt.kind),
            "apiVersion": r.rt.api_version(),
            "metadata": {"resourceVersion": store.resource_version().to_string()},
            "items": deleted,
        }),
    ))
}

fn render_one(rt: &ResourceType, obj: &Value, format: Format) -> Value {
    match format {
        Format::Object => obj.clone(),
        Format::Metadata => partial_metadata(obj),
        Format::Table(include) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table(
                rt,
                std::slice::from_ref(obj),
                include,
                json!({"resourceVersion": rv}),
            )
        }
    }
}
