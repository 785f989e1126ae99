//! From a Plan's peers to [`PeerSpec`]s. Endpoints given as DNS names are resolved here, all at once
//! (at most [`MAX_LOOKUPS_IN_FLIGHT`] at a time) under one overall deadline: a Plan with many slow
//! names takes the deadline, not names × a timeout. A name that does not resolve in time leaves the
//! peer without an endpoint (it can still be reached when the other side dials in) and a warning says
//! so. The lookup is a parameter ([`Lookup`]), so tests can make names slow.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kubewire_core::{Host, Plan, PublicKey};

use crate::diff::{Config, PeerSpec};

/// How many names are looked up at the same time (each system lookup holds a blocking thread).
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 32;

/// What a lookup returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;
/// Resolves `host:port` to addresses.
pub type Lookup = Arc<dyn Fn(String) -> LookupFuture + Send + Sync>;

/// The system resolver (`getaddrinfo` on a blocking thread).
#[must_use]
pub fn system_lookup() -> Lookup {
    Arc::new(|target: String| -> LookupFuture {
        Box::pin(async move { tokio::net::lookup_host(target).await.map(Iterator::collect) })
    })
}

/// The desired configuration and what could not be resolved.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// The addresses the Plan's endpoint names resolved to, by peer key, and what did not resolve.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    /// Every peer's endpoint address: literal ones as given, names as resolved.
    pub addresses: HashMap<PublicKey, SocketAddr>,
    /// Peers whose endpoint is a name, with the address it resolved to.
    pub resolved_names: HashMap<PublicKey, SocketAddr>,
    pub warnings: Vec<String>,
}

/// Resolves the Plan's endpoint names concurrently; everything is done by `deadline` from now.
pub async fn resolve_endpoints(plan: &Plan, deadline: Duration, lookup: &Lookup) -> Endpoints {
    let until = tokio::time::Instant::now() + deadline;
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_LOOKUPS_IN_FLIGHT));
    let mut out = Endpoints::default();
    let mut lookups = tokio::task::JoinSet::new();
    for entry in &plan.peers {
        let Some(e) = &entry.endpoint else { continue };
        match &e.host {
            Host::Ip(ip) => {
                out.addresses
                    .insert(entry.public_key, SocketAddr::new(*ip, e.port));
            }
            Host::Dns(name) => {
                let target = format!("{name}:{}", e.port);
                let found = lookup(target);
                let permits = permits.clone();
                let (key, shown, peer) = (entry.public_key, e.to_string(), entry.name.clone());
                lookups.spawn(async move {
                    let result = tokio::time::timeout_at(until, async move {
                        let _permit = permits.acquire_owned().await;
                        found.await
                    })
                    .await;
                    (key, shown, peer, result)
                });
            }
        }
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = lookups.join_next().await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    // In the Plan's order, the way the user reads them.
    let rank = |key: &PublicKey| plan.peers.iter().position(|p| p.public_key == *key);
    outcomes.sort_by_key(|(key, ..)| rank(key));
    for (key, shown, peer, result) in outcomes {
        match result {
            Ok(Ok(addrs)) => match addrs.into_iter().find(|a| crate::is_usable_endpoint(a.ip())) {
                Some(addr) => {
                    out.addresses.insert(key, addr);
                    out.resolved_names.insert(key, addr);
                }
                None => out.warnings.push(format!(
                    "endpoint {shown} of {peer} resolves to no usable address"
                )),
            },
            Ok(Err(err)) => out
                .warnings
                .push(format!("endpoint {shown} of {peer} does not resolve: {err}")),
            Err(_) => out.warnings.push(format!(
                "endpoint {shown} of {peer} did not resolve within {deadline:?}"
            )),
        }
    }
    out
}

/// The configuration `plan` asks for with these endpoint addresses.
#[must_use]
pub fn config_of(plan: &Plan, addresses: &HashMap<PublicKey, SocketAddr>) -> Config {
    let peers = plan.peers.iter().map(|entry| {
        PeerSpec::new(
            entry.public_key,
            addresses.get(&entry.public_key).copied(),
            entry.allowed_ips.iter().copied(),
            entry.persistent_keepalive,
        )
    });
    Config::new(peers, plan.routes.iter().copied())
}

/// The configuration `plan` asks for, with names resolved by the system resolver, all within
/// `deadline`.
pub async fn resolve_plan(plan: &Plan, deadline: Duration) -> Resolved {
    let endpoints = resolve_endpoints(plan, deadline, &system_lookup()).await;
    Resolved {
        config: config_of(plan, &endpoints.addresses),
        warnings: endpoints.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_core::testing::PlanBuilder;

    fn plan(endpoints: &[&str]) -> Plan {
        endpoints
            .iter()
            .enumerate()
            .fold(
                PlanBuilder::new("kwd0").laptop_key(kubewire_core::PublicKey::from_bytes([0; 32])),
                |b, (i, e)| {
                    let key = kubewire_core::PublicKey::from_bytes([i as u8 + 1; 32]);
                    b.peer(&format!("p{i}"), key, e, &[&format!("10.42.{i}.0/24")], 25)
                },
            )
            .build()
    }

    #[tokio::test]
    async fn names_resolve_and_failures_are_warnings_not_errors() {
        let p = plan(&["192.0.2.1:51820", "localhost:51821", "no-such-host.invalid:51822"]);
        let r = resolve_plan(&p, Duration::from_secs(2)).await;
        let by_key = |n: u8| r.config.peers[&kubewire_core::PublicKey::from_bytes([n; 32])].clone();
        assert_eq!(by_key(1).endpoint, Some("192.0.2.1:51820".parse().unwrap()));
        let local = by_key(2).endpoint.unwrap();
        assert!(local.ip().is_loopback() && local.port() == 51821, "{local}");
        assert_eq!(by_key(3).endpoint, None);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(
            r.warnings[0].contains("no-such-host.invalid:51822 of p2"),
            "{:?}",
            r.warnings
        );
        assert_eq!(r.config.routes.len(), 3);
    }

    #[tokio::test]
    async fn slow_names_resolve_together_within_one_deadline() {
        let p = plan(&["a.test:1", "b.test:2", "c.test:3", "d.test:4", "fast.test:5"]);
        let lookup: Lookup = Arc::new(|target: String| -> LookupFuture {
            Box::pin(async move {
                if !target.starts_with("fast") {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok(vec!["192.0.2.7:5".parse().unwrap()])
            })
        });
        let started = std::time::Instant::now();
        let r = resolve_endpoints(&p, Duration::from_millis(300), &lookup).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1000),
            "took {took:?}, not 4 x the deadline"
        );
        assert_eq!(r.warnings.len(), 4, "{:?}", r.warnings);
        assert!(
            r.warnings[0].contains("a.test:1 of p0 did not resolve within 300ms"),
            "{:?}",
            r.warnings
        );
        let fast = kubewire_core::PublicKey::from_bytes([5; 32]);
        assert_eq!(r.resolved_names[&fast], "192.0.2.7:5".parse().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn five_names_of_three_seconds_each_take_three_seconds() {
        let p = plan(&["a.test:1", "b.test:2", "c.test:3", "d.test:4", "e.test:5"]);
        let lookup: Lookup = Arc::new(|_: String| -> LookupFuture {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(vec!["192.0.2.7:5".parse().unwrap()])
            })
        });
        let started = tokio::time::Instant::now();
        let r = resolve_endpoints(&p, Duration::from_secs(5), &lookup).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3), "not 5 x 3 s");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.resolved_names.len(), 5);
    }
}
