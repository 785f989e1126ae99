//! Request routing: authentication, discovery paths, and the verbs on resource paths
//! (`/api/v1/...`, `/apis/<group>/<version>/...`, optionally under `namespaces/<ns>/`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::apply;
use super::auth::check_bearer;
use super::discovery;
use super::http::{Body, Query, error_response, json_response, json_response_as};
use super::list;
use super::object::meta_str;
use super::openapi;
use super::patch::{json_patch, merge_patch};
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;
use super::strategic::strategic_merge_patch;
use super::table::{IncludeObject, partial_metadata, table};
use super::watch::Format;

/// Largest request body accepted (kube-apiserver's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// What every request handler shares.
#[derive(Debug)]
pub struct Ctx {
    /// The object store.
    pub store: Store,
    /// The accepted bearer token.
    pub token: String,
    /// `host:port` advertised in `/api`.
    pub server_address: String,
}

/// A resource path, resolved.
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
}

/// Entry point for hyper: never fails, errors become Status responses.
pub async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match route(&ctx, req).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "api request");
    Ok(resp)
}

fn accept_format(accept: &str, q: &Query) -> Format {
    if accept.contains("as=Table") {
        Format::Table(IncludeObject::parse(q.get("includeObject")))
    } else if accept.contains("as=PartialObjectMetadata") {
        Format::Metadata
    } else {
        Format::Object
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn route(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    check_bearer(req.headers(), &ctx.token)?;
    let path = req.uri().path().to_string();
    let q = Query::parse(req.uri().query());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let reg = ctx.store.registry();
    let get_only = |v: Option<Value>| -> Result<Response<Body>, ApiError> {
        match (req.method(), v) {
            (&Method::GET, Some(v)) => Ok(json_response(200, &v)),
            (&Method::GET, None) => Err(ApiError::path_not_found(&path)),
            (m, _) => Err(ApiError::method_not_allowed(m.as_str())),
        }
    };
    match segs.as_slice() {
        ["version"] => return get_only(Some(discovery::version())),
        ["healthz" | "livez" | "readyz"] => {
            return Ok(super::http::bytes_response(
                200,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"ok"),
            ));
        }
        ["api"] if discovery::wants_aggregated(&accept) => {
            return Ok(json_response_as(
                200,
                discovery::AGGREGATED_V2,
                &discovery::aggregated(&reg, true),
            ));
        }
        ["apis"] if discovery::wants_aggregated(&accept) => {
            return Ok(json_response_as(
                200,
                discovery::AGGREGATED_V2,
                &discovery::aggregated(&reg, false),
            ));
        }
        ["api"] => return get_only(Some(discovery::core_versions(&ctx.server_address))),
        ["api", v] => return get_only(discovery::resource_list(&reg, "", v).filter(|_| *v == "v1")),
        ["apis"] => return get_only(Some(discovery::group_list(&reg))),
        ["openapi", "v2"] => return get_only(Some(openapi::v2())),
        ["openapi", "v3"] => return get_only(Some(openapi::v3_root(&reg))),
        ["openapi", "v3", "api", v] => return get_only(openapi::v3_group_version(&reg, "", v)),
        ["openapi", "v3", "apis", g, v] => return get_only(openapi::v3_group_version(&reg, g, v)),
        ["apis", g] => return get_only(discovery::group(&reg, g)),
        ["apis", g, v] => return get_only(discovery::resource_list(&reg, g, v)),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::path_not_found(&path)),
    };
    let (ns, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(ApiError::path_not_found(&path)),
    };
    let rt = reg
        .by_path(group, version, plural)
        .cloned()
        .ok_or_else(|| ApiError::path_not_found(&path))?;
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::path_not_found(&path));
    }
    if ns.is_none() && rt.namespaced && name.is_some() {
        return Err(ApiError::path_not_found(&path));
    }
    let target = Target {
        rt,
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
    };
    let format = accept_format(&accept, &q);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let body = read_body(req.into_body()).await?;
    let store = &ctx.store;
    let ns = target.namespace.as_deref();
    let dry_run = q.get("dryRun") == Some("All");
    match (&method, target.name.as_deref()) {
        (&Method::GET, None) if q.flag("watch") => list::watch(store, &target.rt, ns, &q, format),
        (&Method::GET, None) => list::list(store, &target.rt, ns, &q, format),
        (&Method::GET, Some(name)) => {
            let obj = store.get_at(&target.rt, ns, name)?;
            Ok(json_response(200, &render_one(&target.rt, &obj, format)))
        }
        (&Method::POST, None) if target.rt.namespaced && ns.is_none() => {
            Err(ApiError::method_not_allowed("POST"))
        }
        (&Method::POST, None) => {
            let obj = store.create_at(&target.rt, ns, parse_json(&body)?, dry_run)?;
            Ok(json_response(201, &obj))
        }
        (&Method::PUT, Some(name)) => {
            let obj = store.replace_at(&target.rt, ns, name, parse_json(&body)?, dry_run)?;
            Ok(json_response(200, &obj))
        }
        (&Method::PATCH, Some(name)) => patch(store, &target, name, &content_type, &q, &body, dry_run),
        (&Method::DELETE, Some(name)) => {
            let opts = delete_options(&body)?;
            let dry_run = dry_run || opts.pointer("/dryRun/0").and_then(Value::as_str) == Some("All");
            let obj = store.delete_at(&target.rt, ns, name, dry_run, |current| {
                preconditions(&target.rt, name, &opts, current)
            })?;
            Ok(json_response(200, &obj))
        }
        (&Method::DELETE, None) => {
            let opts = delete_options(&body)?;
            let dry_run = dry_run || opts.pointer("/dryRun/0").and_then(Value::as_str) == Some("All");
            let mut deleted = Vec::new();
            for obj in list::matching(store, &target.rt, ns, &q)? {
                let (obj_ns, name) = (
                    meta_str(&obj, "namespace").to_string(),
                    meta_str(&obj, "name").to_string(),
                );
                let obj_ns = Some(obj_ns.as_str()).filter(|n| !n.is_empty());
                match store.delete_at(&target.rt, obj_ns, &name, dry_run, |_| Ok(())) {
                    Ok(obj) => deleted.push(obj),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = serde_json::json!({
                "kind": format!("{}List", target.rt.kind),
                "apiVersion": target.rt.api_version(),
                "metadata": {"resourceVersion": store.resource_version().to_string()},
                "items": deleted,
            });
            Ok(json_response(200, &list))
        }
        (m, _) => Err(ApiError::method_not_allowed(m.as_str())),
    }
}

/// The DeleteOptions body, if any (`{}` when empty).
fn delete_options(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(serde_json::json!({}))
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
                serde_json::json!({"resourceVersion": rv}),
            )
        }
    }
}

fn patch(
    store: &Store,
    target: &Target,
    name: &str,
    content_type: &str,
    q: &Query,
    body: &[u8],
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let rt = &target.rt;
    let ns = target.namespace.as_deref();
    let check_rv = |patch: &Value, current: &Value| -> Result<(), ApiError> {
        let want = meta_str(patch, "resourceVersion");
        if !want.is_empty() && want != meta_str(current, "resourceVersion") {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        Ok(())
    };
    let obj = match content_type {
        "application/merge-patch+json" => {
            let p = parse_json(body)?;
            store.modify_at(rt, ns, name, dry_run, |obj| {
                check_rv(&p, obj)?;
                merge_patch(obj, &p);
                Ok(())
            })?
        }
        "application/strategic-merge-patch+json" => {
            if rt.custom {
                return Err(ApiError::unsupported_media_type(content_type));
            }
            let p = parse_json(body)?;
            store.modify_at(rt, ns, name, dry_run, |obj| {
                check_rv(&p, obj)?;
                strategic_merge_patch(obj, &p);
                Ok(())
            })?
        }
        "application/json-patch+json" => {
            let p = parse_json(body)?;
            store.modify_at(rt, ns, name, dry_run, |obj| json_patch(obj, &p))?
        }
        "application/apply-patch+yaml" => {
            let manager = q.non_empty("fieldManager").ok_or_else(|| {
                ApiError::bad_request("PATCH requests with apply content type require fieldManager")
            })?;
            let force = q.flag("force");
            let applied = apply::parse_body(body)?;
            let applied_name = meta_str(&applied, "name");
            if !applied_name.is_empty() && applied_name != name {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            let (obj, created) = store.upsert_at(rt, ns, name, dry_run, |current| {
                let mut applied = applied.clone();
                if meta_str(&applied, "name").is_empty() {
                    super::object::set_meta(&mut applied, "name", Value::String(name.to_string()));
                }
                apply::apply(rt, current, applied, manager, force)
            })?;
            return Ok(json_response(if created { 201 } else { 200 }, &obj));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    Ok(json_response(200, &obj))
}
