//! `connect`'s second way to the cluster domain: when CoreDNS's Corefile could not be read (or named
//! a domain kubewire refuses), the first Plan is applied with `cluster.local`, and the cluster's DNS
//! is asked through the tunnel which domain it serves (`kubewire_dns::domain_probe`). Another domain
//! is applied at once; a failed probe gives the warning discovery held back.

use std::net::{IpAddr, SocketAddr};

use kubewire_core::{PlanRequest, Snapshot, plan};
use kubewire_dns::domain_probe::{self, DnsService, Found};

use crate::discovery::{ClusterFacts, DomainSource};
use crate::events::ControllerEvent;
use crate::sink::{PlanSink, PlanUpdate};

/// Settles a guessed cluster domain (no-op when it was given or read from the Corefile): updates
/// `facts`, and `request` and `update` (applied through `sink`) when the cluster serves another.
pub(crate) async fn settle<S: PlanSink>(
    facts: &mut ClusterFacts,
    request: &mut PlanRequest,
    update: &mut PlanUpdate,
    snapshot: &Snapshot,
    sink: &mut S,
    events: &tokio::sync::mpsc::UnboundedSender<ControllerEvent>,
) {
    if facts.cluster_domain_source != DomainSource::Default {
        return;
    }
    let warn = |why: &str| {
        let held = facts.cluster_domain_warning.clone().unwrap_or_default();
        let _ = events.send(ControllerEvent::Warning {
            message: format!("{held} (asking the cluster's DNS did not tell either: {why})"),
        });
    };
    let Some(service) = facts.kube_dns.as_ref().and_then(|s| {
        let address: IpAddr = s.cluster_ip.as_deref()?.parse().ok()?;
        Some(DnsService {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            address,
        })
    }) else {
        warn("no cluster DNS Service to ask");
        return;
    };
    let server = SocketAddr::new(service.address, 53);
    let (domain, found) =
        match domain_probe::probe(server, &service, domain_probe::Deadlines::default()).await {
            Ok(found) => found,
            Err(e) => {
                warn(&e.0);
                return;
            }
        };
    tracing::info!(domain = %domain, ?found, "cluster domain from the cluster's DNS");
    if domain != request.settings.dns_zone {
        let mut changed = request.clone();
        changed.settings.dns_zone.clone_from(&domain);
        let mut next = update.clone();
        match plan(snapshot, &changed, facts.clock.now_unix()) {
            Ok(p) => next.plan = p,
            Err(e) => {
                warn(&format!(
                    "the cluster serves {domain}, but planning with it failed: {e}"
                ));
                return;
            }
        }
        if let Err(e) = sink.apply(&next).await {
            warn(&format!(
                "the cluster serves {domain}, but applying it failed: {e}"
            ));
            return;
        }
        *request = changed;
        *update = next;
    }
    facts.cluster_domain.clone_from(&domain);
    facts.cluster_domain_source = DomainSource::ClusterDns;
    facts.cluster_domain_warning = None;
    let _ = events.send(ControllerEvent::ClusterDomainFound {
        domain,
        how: match found {
            Found::Reverse => format!(
                "the cluster's DNS named it for {} (kube-system/coredns was not readable)",
                service.address
            ),
            Found::Candidate => format!(
                "{}.{}.svc under it answers (kube-system/coredns was not readable)",
                service.name, service.namespace
            ),
        },
    });
}
