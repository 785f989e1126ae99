//! The Plan's DNS part: the cluster DNS server (only when the tunnel routes it: otherwise the
//! cluster's names would go over the laptop's own network), the search list (`<ns>.svc.<zone>`,
//! `svc.<zone>`, each checked), and the namespaces the resolver may answer `<svc>.<ns>` for.

use ipnet::IpNet;

use super::{Dns, Settings};
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::snapshot::Snapshot;

/// The DNS part of a Plan whose routes are `routes`; what is left out gets a diagnostic.
pub(super) fn dns(
    snapshot: &Snapshot,
    settings: &Settings,
    zone: String,
    routes: &[IpNet],
    diagnostics: &mut Vec<Diagnostic>,
) -> Dns {
    let server = match snapshot.cluster_dns() {
        Ok(ip) => Some(ip),
        Err(d) => {
            diagnostics.push(d);
            None
        }
    };
    // A server outside the routed ranges would get the cluster's names over the laptop's own network.
    let server = match server {
        Some(ip) if !routes.iter().any(|r| r.contains(&ip)) => {
            diagnostics.push(Diagnostic::object(
                ObjectRef::setting("service-cidr"),
                format!(
                    "the cluster DNS address {ip} is not routed through the tunnel; cluster names will not \
                     resolve on this laptop"
                ),
            ));
            None
        }
        other => other,
    };
    let mut search = Vec::new();
    for name in [
        format!("{}.svc.{zone}", settings.namespace),
        format!("svc.{zone}"),
    ] {
        match crate::check::dns::check_name("search domain", &name) {
            Ok(()) => search.push(name),
            Err(e) => diagnostics.push(Diagnostic::object(
                ObjectRef::setting("namespace"),
                format!("{e}; left out of the DNS search list"),
            )),
        }
    }
    Dns {
        search,
        zone,
        server,
        namespaces: short_name_namespaces(snapshot, diagnostics),
    }
}

/// The cluster's namespaces, for the resolver. Those named like a public domain stay in the list
/// (their Services still answer by full name) but get a diagnostic: the resolver never uses them for
/// `<svc>.<ns>` ([`crate::dns_names::namespace_usable_for_short_names`], re-checked there).
fn short_name_namespaces(snapshot: &Snapshot, diagnostics: &mut Vec<Diagnostic>) -> Option<Vec<String>> {
    let known = snapshot.namespaces()?;
    for ns in known {
        if !crate::dns_names::namespace_usable_for_short_names(ns) {
            diagnostics.push(Diagnostic::object(
                ObjectRef::namespace(ns.clone()),
                format!(
                    "the namespace {ns} is named like a public domain: <service>.{ns} stays an internet \
                     name; use <service>.{ns}.svc.<cluster domain> for its Services"
                ),
            ));
        }
    }
    Some(known.iter().cloned().collect())
}
