//! Bearer-token authentication: the only credential the double accepts.

use http::HeaderMap;

use super::status::ApiError;

/// `Ok` when the request carries `Authorization: Bearer <token>`; 401 otherwise.
pub fn check_bearer(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if !token.is_empty() && constant_time_eq(p.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_token() {
        let mut h = HeaderMap::new();
        assert!(check_bearer(&h, "s3cret").is_err());
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer wrong"),
        );
        assert_eq!(check_bearer(&h, "s3cret").map_err(|e| e.code), Err(401));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(check_bearer(&h, "s3cret").is_ok());
    }
}
