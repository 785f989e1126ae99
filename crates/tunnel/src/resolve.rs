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
