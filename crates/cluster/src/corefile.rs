//! The cluster domain as CoreDNS serves it: the first zone of the `kubernetes` plugin in the
//! Corefile (`kube-system/coredns` ConfigMap, key `Corefile`) that is not a reverse zone. k3s's
//! default: `kubernetes cluster.local in-addr.arpa ip6.arpa { ... }`. Pure; what it returns is
//! cluster input, checked by the caller like any other (`kubewire_core::check::dns::check_zone`).

/// The zone of the first `kubernetes` plugin block, lower-cased, without a trailing dot.
#[must_use]
pub fn cluster_domain(corefile: &str) -> Option<String> {
    corefile.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default().trim();
        let rest = line.strip_prefix("kubernetes")?;
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            return None; // `kubernetesx`, not the plugin
        }
        rest.split_whitespace()
            .take_while(|t| *t != "{")
            .map(|t| t.trim_end_matches('.').to_ascii_lowercase())
            .find(|zone| !zone.is_empty() && zone != "arpa" && !zone.ends_with(".arpa"))
    })
}

#[cfg(test)]
mod tests {
    use super::cluster_domain;

    #[test]
    fn k3s_default_corefile_serves_cluster_local() {
        let k3s = ".:53 {\n    errors\n    health\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n      pods insecure\n      fallthrough in-addr.arpa ip6.arpa\n    }\n    hosts /etc/coredns/NodeHosts {\n      ttl 60\n      reload 15s\n      fallthrough\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n    loadbalance\n    import /etc/coredns/custom/*.override\n}\n";
        assert_eq!(cluster_domain(k3s).as_deref(), Some("cluster.local"));
    }

    #[test]
    fn another_domain_reverse_zones_first_comments_and_dots() {
        assert_eq!(
            cluster_domain("  kubernetes in-addr.arpa Corp.Internal. ip6.arpa {").as_deref(),
            Some("corp.internal")
        );
        assert_eq!(
            cluster_domain("# kubernetes evil.example\n  kubernetes k8s.lan").as_deref(),
            Some("k8s.lan")
        );
        assert_eq!(
            cluster_domain("kubernetes {\n}").as_deref(),
            None,
            "no zone: the server's"
        );
        assert_eq!(cluster_domain("kubernetesx cluster.local").as_deref(), None);
        assert_eq!(cluster_domain(".:53 {\n forward . 1.1.1.1\n}").as_deref(), None);
    }
}
