//! What the cluster's own DNS says about the cluster domain, when CoreDNS's Corefile cannot be read
//! (RBAC keeps many developers out of `kube-system`). CoreDNS's `kubernetes` plugin answers a PTR
//! query for a Service's ClusterIP with `<service>.<namespace>.svc.<domain>.`, so the reverse name
//! of the cluster DNS Service's own address names the domain, whatever it is. Pure: the queries
//! are sent by the caller (`kubewire_dns::domain_probe`). An answer is cluster input like any
//! other: the domain it names passes [`crate::check::dns::check_zone`] (no public suffix, no
//! registrable internet domain) or is ignored.

use crate::check::dns::check_zone;

/// The domains tried by name when the reverse answer says nothing usable, most likely first.
pub const CANDIDATES: &[&str] = &["cluster.local"];

/// The cluster domain a Service's DNS name carries: `kube-dns.kube-system.svc.corp.internal.`
/// gives `corp.internal`. `None` when the name is not `<service>.<namespace>.svc.<domain>` or the
/// domain is not one kubewire would route (a public suffix, a malformed name).
#[must_use]
pub fn from_service_name(name: &str) -> Option<String> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 4 || labels[2] != "svc" || labels[..2].iter().any(|l| l.is_empty()) {
        return None;
    }
    let domain = labels[3..].join(".");
    check_zone(&domain).is_ok().then_some(domain)
}

/// The name that, in `domain`, is the cluster DNS Service `service` of `namespace`: the forward
/// query that confirms a domain (its answer must hold the Service's address).
#[must_use]
pub fn service_name(service: &str, namespace: &str, domain: &str) -> String {
    format!("{service}.{namespace}.svc.{domain}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_name_gives_its_domain() {
        assert_eq!(
            from_service_name("kube-dns.kube-system.svc.cluster.local.").as_deref(),
            Some("cluster.local")
        );
        assert_eq!(
            from_service_name("KUBE-DNS.kube-system.svc.Corp.Internal").as_deref(),
            Some("corp.internal")
        );
        assert_eq!(
            from_service_name("kubernetes.default.svc.k8s.lan.").as_deref(),
            Some("k8s.lan")
        );
    }

    #[test]
    fn other_names_and_hostile_domains_give_nothing() {
        // Not a Service's name.
        assert_eq!(from_service_name("kube-dns.kube-system.cluster.local."), None);
        assert_eq!(
            from_service_name("10-43-0-10.kube-system.pod.cluster.local."),
            None
        );
        assert_eq!(from_service_name("kube-dns.kube-system.svc."), None);
        assert_eq!(from_service_name("..svc.cluster.local"), None);
        assert_eq!(from_service_name(""), None);
        // A public suffix or an internet domain: every such name would go to the cluster.
        assert_eq!(from_service_name("kube-dns.kube-system.svc.com."), None);
        assert_eq!(from_service_name("kube-dns.kube-system.svc.github.com."), None);
        assert_eq!(from_service_name("kube-dns.kube-system.svc.co.uk."), None);
        // Malformed.
        assert_eq!(
            from_service_name("kube-dns.kube-system.svc.bad_label.local."),
            None
        );
    }

    #[test]
    fn the_confirming_name_is_fully_qualified() {
        assert_eq!(
            service_name("kube-dns", "kube-system", "corp.internal"),
            "kube-dns.kube-system.svc.corp.internal."
        );
    }
}
