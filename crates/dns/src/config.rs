//! What the resolver needs to know, built from the Plan.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::plan::Plan;
use serde::{Deserialize, Serialize};

/// The loopback address the resolver listens on in resolv.conf mode (like resolved's 127.0.0.53, but
/// out of its way).
pub const LOOPBACK_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 2, 53)), 53);

/// The resolver's configuration.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ResolverConfig {
    /// Where to listen (UDP and TCP). A loopback address, or the tunnel interface's own address (then
    /// only queries from the laptop's own addresses are answered). Never a wildcard address.
    pub listen: SocketAddr,
    /// The cluster zone, e.g. `cluster.local`.
    pub zone: String,
    /// The cluster DNS server (through the tunnel). `None`: cluster names get SERVFAIL.
    pub cluster_dns: Option<SocketAddr>,
    /// Ranges whose reverse zones go to the cluster DNS (the Plan's routes).
    pub reverse_ranges: Vec<IpNet>,
    /// The namespace a single label is looked up in (`web` -> `web.<ns>.svc.<zone>`).
    pub default_namespace: Option<String>,
    /// The cluster's namespaces, when known: only `<svc>.<known ns>` is asked of the cluster (and
    /// never for a namespace named like a public domain); other two-label names go straight
    /// upstream. `None` (unknown): no two-label name is asked of the cluster.
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
    /// The original nameservers, for every non-cluster name (resolv.conf mode). Empty in split modes:
    /// other names are REFUSED (the OS never sends them).
    pub upstreams: Vec<SocketAddr>,
    /// Cache answers (TTLs honoured, negative answers cached by their SOA).
    pub cache: bool,
    /// How long a cluster query may take before it is answered SERVFAIL.
    pub cluster_timeout: Duration,
    /// How long an upstream query may take before it is answered SERVFAIL.
    pub upstream_timeout: Duration,
}

impl ResolverConfig {
    /// The configuration for a Plan: the Plan's zone, DNS server, routes and the namespace of its first
    /// search suffix (`<ns>.svc.<zone>`) as the default namespace.
    pub fn from_plan(plan: &Plan, listen: SocketAddr, upstreams: Vec<SocketAddr>) -> Self {
        let zone = plan.dns.zone.trim_end_matches('.').to_owned();
        let suffix = format!(".svc.{zone}");
        let default_namespace = plan
            .dns
            .search
            .iter()
            .find_map(|s| s.trim_end_matches('.').strip_suffix(&suffix))
            .filter(|ns| !ns.is_empty() && !ns.contains('.'))
            .map(str::to_owned);
        Self {
            listen,
            zone,
            cluster_dns: plan.dns.server.map(|ip| SocketAddr::new(ip, 53)),
            reverse_ranges: plan.routes.clone(),
            default_namespace,
            namespaces: plan.dns.namespaces.clone(),
            upstreams,
            cache: true,
            cluster_timeout: Duration::from_millis(400),
            upstream_timeout: Duration::from_secs(3),
        }
    }
}
