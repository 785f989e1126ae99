//! Looking a name up the way the user's programs do: through the system resolver (getaddrinfo:
//! NSS, systemd-resolved or resolv.conf, where kubewired's split DNS is configured), timed.

use std::time::{Duration, Instant};

use crate::types::ResolveResult;

/// How long one lookup may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The resolver's answer for `name`: addresses, or the error in words with a DNS-like code.
pub async fn resolve(name: &str) -> ResolveResult {
    let name = name.trim().trim_end_matches('.').to_owned();
    let started = Instant::now();
    let result = if name.is_empty() || name.len() > 253 || name.contains(char::is_whitespace) {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a host name",
        ))
    } else {
        match tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((name.as_str(), 0))).await {
            Ok(r) => r.map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>()),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", TIMEOUT.as_secs()),
            )),
        }
    };
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(mut ips) => {
            ips.sort();
            ips.dedup();
            ResolveResult {
                name,
                answers: ips.iter().map(ToString::to_string).collect(),
                rcode: "NOERROR".into(),
                ms,
                error: None,
            }
        }
        Err(e) => {
            let text = e.to_string();
            let rcode = if e.kind() == std::io::ErrorKind::TimedOut {
                "TIMEOUT"
            } else if e.kind() == std::io::ErrorKind::InvalidInput {
                "FORMERR"
            } else if text.contains("not known") || text.contains("No address") || text.contains("no such") {
                "NXDOMAIN"
            } else if text.contains("Temporary failure") {
                "SERVFAIL"
            } else {
                "ERROR"
            };
            ResolveResult {
                name,
                answers: Vec::new(),
                rcode: rcode.into(),
                ms,
                error: Some(text),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_resolves_and_nonsense_does_not() {
        let r = resolve("localhost").await;
        assert_eq!(r.rcode, "NOERROR", "{r:?}");
        assert!(r.answers.iter().any(|a| a == "127.0.0.1" || a == "::1"), "{r:?}");
        let r = resolve("no such name").await;
        assert_eq!(r.rcode, "FORMERR");
        assert!(r.error.is_some());
        let r = resolve("does-not-exist.invalid").await;
        assert!(r.answers.is_empty());
        assert!(r.error.is_some());
    }
}
