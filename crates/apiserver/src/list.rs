//! Collection GETs: lists (with `limit`/`continue` paging over a consistent snapshot, selectors and
//! the list's resourceVersion) and the parsing of watch parameters.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Response;
use serde_json::{Value, json};

use super::http::{Body, Query, json_response};
use super::object::meta_str;
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::Store;
use super::table::{partial_metadata, table};
use super::watch::{Format, WatchSpec, watch_response};

/// Default watch duration when `timeoutSeconds` is absent (kube-apiserver picks 30-60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"rv": rv, "ns": ns, "name": name}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let bad = || ApiError::bad_request("invalid continue token");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok((rv, s("ns")?, s("name")?))
}

fn selectors(q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?,
        FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?,
    ))
}

fn key(obj: &Value) -> (String, String) {
    (
        meta_str(obj, "namespace").to_string(),
        meta_str(obj, "name").to_string(),
    )
}

/// The objects of a collection the request's selectors select (for deletecollection).
pub fn matching(
    store: &Store,
    rt: &ResourceType,
    namespace: Option<&str>,
    q: &Query,
) -> Result<Vec<Value>, ApiError> {
    let (labels, fields) = selectors(q)?;
    let (items, _) = store.list_at(rt, namespace, None)?;
    Ok(items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect())
}

/// `GET` on a collection without `watch`: one page of the list. `resourceVersion` with
/// `resourceVersionMatch=Exact` lists the state at that version (410 if compacted away).
pub fn list(
    store: &Store,
    rt: &ResourceType,
    namespace: Option<&str>,
    q: &Query,
    format: Format,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(q)?;
    let limit = match q.non_empty("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let (at, after) = match q.non_empty("continue") {
        Some(token) => {
            let (rv, ns, name) = decode_continue(token)?;
            (Some(rv), Some((ns, name)))
        }
        None => match (q.get("resourceVersionMatch"), q.non_empty("resourceVersion")) {
            (Some("Exact"), Some(rv)) => {
                let rv = rv
                    .parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
                (Some(rv), None)
            }
            _ => (None, None),
        },
    };
    let (items, rv) = store
        .list_at(rt, namespace, at)
        .map_err(|e| match (e.code, after.is_none(), at) {
            (410, true, Some(at)) => ApiError::expired(format!("too old resource version: {at}")),
            _ => e,
        })?;
    let mut matching: Vec<Value> = items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .filter(|o| after.as_ref().is_none_or(|a| key(o) > *a))
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if limit > 0 && matching.len() > limit {
        let remaining = matching.len() - limit;
        matching.truncate(limit);
        if let Some(last) = matching.last() {
            let (ns, name) = key(last);
            meta["continue"] = json!(encode_continue(rv, &ns, &name));
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    let body = match format {
        Format::Table(include) => table(rt, &matching, include, meta),
        Format::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": matching.iter().map(partial_metadata).collect::<Vec<_>>(),
        }),
        Format::Object => json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": meta,
            "items": matching,
        }),
    };
    Ok(json_response(200, &body))
}

/// `GET` on a collection with `watch=true|1`.
pub fn watch(
    store: &Store,
    rt: &ResourceType,
    namespace: Option<&str>,
    q: &Query,
    format: Format,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(q)?;
    let bookmarks = q.flag("allowWatchBookmarks");
    let initial_events = q.flag("sendInitialEvents");
    if initial_events {
        if q.get("resourceVersionMatch") != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.plural,
                "",
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.plural,
                "",
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    }
    let from = match q.non_empty("resourceVersion") {
        _ if initial_events => None,
        None | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?,
        ),
    };
    let timeout = match q.non_empty("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let spec = WatchSpec {
        rt: rt.clone(),
        namespace: namespace.map(str::to_string),
        labels,
        fields,
        timeout,
        bookmarks,
        initial_events_end: initial_events,
        format,
    };
    Ok(watch_response(store, spec, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "default", "web");
        assert_eq!(
            decode_continue(&t).ok(),
            Some((42, "default".to_string(), "web".to_string()))
        );
        assert!(decode_continue("not-a-token").is_err());
    }
}
