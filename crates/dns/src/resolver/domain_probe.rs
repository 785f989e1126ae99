//! Asks the cluster's DNS, through the tunnel, which cluster domain it serves: for `connect` when
//! CoreDNS's Corefile cannot be read. First the reverse name of the cluster DNS Service's own
//! address (CoreDNS answers `<service>.<namespace>.svc.<domain>.`), confirmed by the forward
//! query of that name holding the address; else each of
//! [`kubewire_core::cluster_domain::CANDIDATES`], confirmed the same way. An answer is trusted no
//! further than the core's checks: a public suffix or an internet domain is never the result.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use kubewire_core::cluster_domain;

use super::forwarder::{Failure, Forwarder};

/// The cluster DNS Service to ask about: its name, namespace and ClusterIP.
#[derive(Debug, Clone)]
pub struct DnsService {
    /// `kube-dns` on k3s and kubeadm.
    pub name: String,
    /// `kube-system`.
    pub namespace: String,
    /// Its ClusterIP (the server asked, on port 53, unless the probe is given another).
    pub address: IpAddr,
}

/// How the domain was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The reverse answer for the DNS Service's address named it.
    Reverse,
    /// A candidate (`cluster.local`) resolved the DNS Service's name to its address.
    Candidate,
}

/// Why no domain was found: words for a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// The probe's deadlines: the first query may wait for the tunnel's first handshake.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For the first (reverse) query.
    pub first: Duration,
    /// For every other query.
    pub each: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(6),
            each: Duration::from_secs(2),
        }
    }
}

/// Asks `server` (the cluster DNS, normally `service.address:53`) for the cluster domain.
pub async fn probe(
    server: SocketAddr,
    service: &DnsService,
    deadlines: Deadlines,
) -> Result<(String, Found), NotFound> {
    let first = Forwarder::new(&[server], deadlines.first).map_err(|e| NotFound(e.to_string()))?;
    let each = Forwarder::new(&[server], deadlines.each).map_err(|e| NotFound(e.to_string()))?;
    let mut why = Vec::new();
    match first.lookup(&Name::from(service.address), RecordType::PTR).await {
        Ok(outcome) if outcome.code == ResponseCode::NoError => {
            let named: Vec<String> = outcome
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                    _ => None,
                })
                .collect();
            for name in &named {
                let Some(domain) = cluster_domain::from_service_name(name) else {
                    why.push(format!(
                        "the reverse answer {name} names no usable cluster domain"
                    ));
                    continue;
                };
                if resolves_to(&each, name, service.address).await {
                    return Ok((domain, Found::Reverse));
                }
                why.push(format!("{name} does not resolve to {}", service.address));
            }
            if named.is_empty() {
                why.push(format!("no reverse name for {}", service.address));
            }
        }
        Ok(outcome) => why.push(format!("the reverse query was answered {}", outcome.code)),
        Err(Failure::Timeout) => {
            return Err(NotFound(format!(
                "the cluster DNS {server} did not answer through the tunnel within {} s",
                deadlines.first.as_secs()
            )));
        }
        Err(Failure::Other(e)) => {
            return Err(NotFound(format!("asking the cluster DNS {server}: {e}")));
        }
    }
    for candidate in cluster_domain::CANDIDATES {
        let name = cluster_domain::service_name(&service.name, &service.namespace, candidate);
        if resolves_to(&each, &name, service.address).await {
            return Ok(((*candidate).to_owned(), Found::Candidate));
        }
        why.push(format!("{name} does not resolve to {}", service.address));
    }
    Err(NotFound(why.join("; ")))
}

/// Whether `name` has an address record holding `address`.
async fn resolves_to(forwarder: &Forwarder, name: &str, address: IpAddr) -> bool {
    let Ok(name) = Name::from_ascii(name) else {
        return false;
    };
    let rtype = if address.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    let Ok(outcome) = forwarder.lookup(&name, rtype).await else {
        return false;
    };
    outcome.answers.iter().any(|r| match &r.data {
        RData::A(a) => IpAddr::V4(a.0) == address,
        RData::AAAA(a) => IpAddr::V6(a.0) == address,
        _ => false,
    })
}
