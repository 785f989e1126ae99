//! Authorization in miniature: everything is allowed unless a test forbade it with
//! [`Store::forbid`](super::Store::forbid), in which case requests get kube-apiserver's 403
//! Forbidden and SelfSubjectAccessReviews (`kubectl auth can-i`) answer `allowed: false`. Lets
//! client code be tested against missing RBAC permissions.

use http::Method;
use serde_json::{Value, json};

use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;

/// The user every valid token authenticates as.
pub const USER: &str = "kubewire-lab";

/// The RBAC verb of a request on a resource path.
pub fn request_verb(method: &Method, name: Option<&str>, watch: bool) -> &'static str {
    match (method, name) {
        (&Method::GET, None) if watch => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, None) => "deletecollection",
        (&Method::DELETE, Some(_)) => "delete",
        _ => "unknown",
    }
}

/// 403 Forbidden, worded as kube-apiserver does.
pub fn forbidden(verb: &str, rt: &ResourceType, namespace: Option<&str>, name: Option<&str>) -> ApiError {
    let what = match name {
        Some(n) => format!("{} \"{n}\"", rt.qualified_name()),
        None => rt.qualified_name(),
    };
    let scope = match namespace {
        Some(ns) if rt.namespaced => format!("in the namespace \"{ns}\""),
        _ => "at the cluster scope".to_string(),
    };
    let mut err = ApiError::forbidden(format!(
        "{what} is forbidden: User \"{USER}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
        rt.plural, rt.group
    ));
    err.details = Some(json!({"name": name.unwrap_or_default(), "group": rt.group, "kind": rt.plural}));
    err
}

/// Answers a SelfSubjectAccessReview: the posted object with `status.allowed`.
pub fn review(store: &Store, mut body: Value) -> Result<Value, ApiError> {
    let attrs = body.pointer("/spec/resourceAttributes").cloned();
    if attrs.is_none() && body.pointer("/spec/nonResourceAttributes").is_none() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    let allowed = attrs.is_none_or(|a| {
        let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        !store.is_forbidden(&s("verb"), &s("group"), &s("resource"))
    });
    if let Some(map) = body.as_object_mut() {
        map.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        map.insert("kind".into(), json!("SelfSubjectAccessReview"));
        map.entry("metadata").or_insert_with(|| json!({}));
        // Like RBAC: a denial carries no reason.
        map.insert("status".into(), json!({"allowed": allowed}));
    }
    Ok(body)
}
