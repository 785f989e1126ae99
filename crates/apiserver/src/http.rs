//! HTTP plumbing shared by the handlers: the response body type, JSON and Status responses (each
//! with a `Date` header), and query-string parsing (which accepts kube's leading `?&`).

use std::convert::Infallible;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

use super::status::ApiError;

/// Response body: a full buffer or a stream of watch events.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// How far every `Date` header of this process runs ahead of the clock (negative: behind): a test's
/// API server with a skewed clock ([`super::testing::set_date_skew_secs`]).
static DATE_SKEW_SECS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Sets the skew of every `Date` header this process's API servers send.
pub fn set_date_skew_secs(secs: i64) {
    DATE_SKEW_SECS.store(secs, std::sync::atomic::Ordering::Relaxed);
}

/// The current time (plus the test's skew, if any) as an HTTP `Date` header value.
pub fn date_header() -> HeaderValue {
    let skew = DATE_SKEW_SECS.load(std::sync::atomic::Ordering::Relaxed);
    let by = std::time::Duration::from_secs(skew.unsigned_abs());
    let now = SystemTime::now();
    let at = if skew >= 0 {
        now.checked_add(by)
    } else {
        now.checked_sub(by)
    }
    .unwrap_or(now);
    HeaderValue::from_str(&httpdate::fmt_http_date(at)).unwrap_or(HeaderValue::from_static(""))
}

/// A response with `body` and `content_type`, and a `Date` header.
pub fn bytes_response(code: u16, content_type: &str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).boxed_unsync());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(header::DATE, date_header());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

/// A JSON response.
pub fn json_response(code: u16, v: &Value) -> Response<Body> {
    json_response_as(code, "application/json", v)
}

/// A JSON response with a specific JSON media type.
pub fn json_response_as(code: u16, content_type: &str, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    bytes_response(code, content_type, Bytes::from(body))
}

/// The Status response for an error.
pub fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query parameters (first value wins; empty segments such as kube's `?&` are skipped).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(kv), String::new()),
            })
            .collect();
        Query(pairs)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A non-empty value of `key`.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean flag: `true` or `1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_style_queries() {
        let q = Query::parse(Some("&limit=2&labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1"));
        assert_eq!(q.get("limit"), Some("2"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("missing"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
