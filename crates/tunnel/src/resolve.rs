//! From a Plan's peers to [`PeerSpec`]s: endpoints given as DNS names are resolved here, each under a
//! timeout; a name that does not resolve leaves the peer without an endpoint (it can still be reached
//! when the other side dials in) and a warning says so.

use std::net::SocketAddr;
use std::time::Duration;

use kubewire_core::{Host, Plan};

use crate::diff::{Config, PeerSpec};

/// The desired configuration and what could not be resolved.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// The configuration `plan` asks for, with names resolved (at most `timeout` per name).
pub async fn resolve_plan(plan: &Plan, timeout: Duration) -> Resolved {
    let mut warnings = Vec::new();
    let mut peers = Vec::with_capacity(plan.peers.len());
    for entry in &plan.peers {
        let endpoint = match &entry.endpoint {
            None => None,
            Some(e) => match &e.host {
                Host::Ip(ip) => Some(SocketAddr::new(*ip, e.port)),
                Host::Dns(name) => {
                    let target = format!("{name}:{}", e.port);
                    match tokio::time::timeout(timeout, tokio::net::lookup_host(target)).await {
                        Ok(Ok(mut addrs)) => {
                            let found = addrs.find(|a| crate::is_usable_endpoint(a.ip()));
                            if found.is_none() {
                                warnings.push(format!(
                                    "endpoint {e} of {} resolves to no usable address",
                                    entry.name
                                ));
                            }
                            found
                        }
                        Ok(Err(err)) => {
                            warnings.push(format!("endpoint {e} of {} does not resolve: {err}", entry.name));
                            None
                        }
                        Err(_) => {
                            warnings.push(format!(
                                "endpoint {e} of {} did not resolve within {timeout:?}",
                                entry.name
                            ));
                            None
                        }
                    }
                }
            },
        };
        peers.push(PeerSpec::new(
            entry.public_key,
            endpoint,
            entry.allowed_ips.iter().copied(),
            entry.persistent_keepalive,
        ));
    }
    Resolved {
        config: Config::new(peers, plan.routes.iter().copied()),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_core::plan::{ClusterSummary, Dns, Interface, PeerEntry, PeerKind};

    fn plan(endpoints: &[&str]) -> Plan {
        let peers: Vec<PeerEntry> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| PeerEntry {
                name: format!("p{i}"),
                kind: PeerKind::KiloPeer,
                public_key: kubewire_core::PublicKey::from_bytes([i as u8 + 1; 32]),
                endpoint: Some(e.parse().unwrap()),
                allowed_ips: vec![format!("10.42.{i}.0/24").parse().unwrap()],
                persistent_keepalive: 25,
            })
            .collect();
        Plan {
            version: kubewire_core::plan::PLAN_VERSION,
            interface: Interface {
                name: "kwd0".into(),
                address: "10.4.0.100/32".parse().unwrap(),
                public_key: kubewire_core::PublicKey::from_bytes([0; 32]),
                mtu: 1420,
                listen_port: None,
            },
            routes: kubewire_core::policy::routes(&peers),
            peers,
            dns: Dns {
                zone: "cluster.local".into(),
                server: None,
                search: vec![],
                namespaces: None,
            },
            service_gateway: None,
            cluster: ClusterSummary {
                granularity: kubewire_core::Granularity::Location,
                subnet: "10.4.0.0/16".parse().unwrap(),
                nodes: 0,
                ready_nodes: 0,
                now: 0,
            },
            refused: vec![],
            skipped: vec![],
            diagnostics: vec![],
            policy: Default::default(),
        }
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
}
