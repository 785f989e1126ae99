//! Request routing: authentication, discovery and OpenAPI paths, and resource paths
//! (`/api/v1/...`, `/apis/<group>/<version>/...`, optionally under `namespaces/<ns>/`, optionally
//! with a `/status` subresource) handed to `verbs`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::auth::check_bearer;
use super::authz;
use super::discovery;
use super::http::{Body, Query, error_response, json_response, json_response_as};
use super::openapi;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;
use super::table::IncludeObject;
use super::verbs::{self, ResourceRequest};
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
    subresource: Option<String>,
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
        ["openapi", "v2"] if accept.contains(openapi::V2_PROTOBUF) && req.method() == Method::GET => {
            return Ok(super::http::bytes_response(
                200,
                "application/octet-stream",
                Bytes::from(openapi::v2_protobuf()),
            ));
        }
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
    let (ns, plural, name, sub) = match rest {
        ["namespaces", name, "status"] if group.is_empty() => {
            (None, "namespaces", Some(*name), Some("status"))
        }
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
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
    if sub.is_some_and(|s| s != "status" || !rt.status_subresource) {
        return Err(ApiError::path_not_found(&path));
    }
    let verb = authz::request_verb(req.method(), name, q.flag("watch"));
    if !rt.verbs.contains(&verb) {
        return Err(ApiError::method_not_allowed(req.method().as_str()));
    }
    if ctx.store.is_forbidden(verb, &rt.group, &rt.plural) {
        return Err(authz::forbidden(verb, &rt, ns, name));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default();
    if rt.plural == "selfsubjectaccessreviews" {
        let body = read_body(req.into_body()).await?;
        let review = verbs::decode_body(&rt, &content_type, &body)?;
        return Ok(json_response(201, &authz::review(&ctx.store, review)?));
    }
    let target = Target {
        rt,
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    };
    let format = accept_format(&accept, &q);
    let method = req.method().clone();
    let body = read_body(req.into_body()).await?;
    let r = ResourceRequest {
        rt: &target.rt,
        namespace: target.namespace.as_deref(),
        name: target.name.as_deref(),
        subresource: target.subresource.as_deref(),
        q: &q,
        format,
        content_type: &content_type,
        body: &body,
    };
    verbs::dispatch(&ctx.store, &method, &r)
}
