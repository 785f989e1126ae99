//! Which upstream a query name goes to: the cluster, the cluster after expanding a short name, or the
//! laptop's original nameservers. Pure: no I/O.
//!
//! The rule (documented in the crate README):
//! - names under the cluster zone or under a reverse zone of the routed ranges go to the cluster DNS;
//! - `<svc>.<ns>` (two labels shaped like a Service name and a namespace) and `<svc>.<ns>.svc` are
//!   asked of the cluster as `<svc>.<ns>.svc.<zone>`; when the cluster has that name (an answer or an
//!   empty NOERROR) the cluster's answer is returned behind a CNAME, otherwise (NXDOMAIN, tunnel
//!   down) the original name goes upstream unchanged. So a name that is both a Service and a public
//!   name (`web.dev`) goes to the cluster: the user typed a Service name;
//! - a single label `web` is asked of the cluster as `web.<default namespace>.svc.<zone>`, falling
//!   back upstream the same way;
//! - SRV-style names keep their leading `_port._proto` labels: `_http._tcp.web.default` is expanded
//!   as `web.default` is;
//! - every other name (three or more labels, labels a Service or namespace cannot have) goes upstream
//!   unchanged, never seen by the cluster.

use hickory_proto::rr::Name;

/// Where a query goes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Route {
    /// Forward unchanged to the cluster DNS.
    Cluster,
    /// Ask the cluster for `expanded`; on NXDOMAIN or failure, forward the original name upstream.
    ShortName {
        /// The full cluster name.
        expanded: Name,
    },
    /// Forward unchanged to the original nameservers.
    Upstream,
    /// Answer NXDOMAIN here: a name under `svc.<zone>` no Service can have (a search suffix glued
    /// to an external name, `www.example.com.default.svc.<zone>`), or in an unknown namespace.
    /// The cluster never sees it.
    NxDomain,
}

/// The routing rule, built from the cluster zone, the reverse zones and the default namespace.
#[derive(Clone, Debug)]
pub struct Router {
    zone: Name,
    reverse_zones: Vec<Name>,
    default_namespace: Option<String>,
    namespaces: Option<Vec<String>>,
}

impl Router {
    /// A router for `zone` (e.g. `cluster.local.`), the reverse zones of the routed ranges, and the
    /// namespace single labels are expanded in (`None`: single labels go upstream).
    pub fn new(zone: Name, reverse_zones: Vec<Name>, default_namespace: Option<String>) -> Self {
        Self {
            zone: fqdn(zone.to_lowercase()),
            reverse_zones: reverse_zones
                .into_iter()
                .map(|z| fqdn(z.to_lowercase()))
                .collect(),
            default_namespace,
            namespaces: None,
        }
    }

    /// Only these namespaces count for `<svc>.<ns>` (other two-label names go straight upstream,
    /// the cluster never sees them). Without it every `<a>.<b>` is asked of the cluster first.
    pub fn with_namespaces(mut self, namespaces: Option<Vec<String>>) -> Self {
        self.namespaces = namespaces;
        self
    }

    fn namespace_known(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|known| known.iter().any(|k| k == ns))
    }

    /// The cluster zone.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The zones whose names go to the cluster unchanged: the cluster zone, then the reverse zones.
    pub fn cluster_zones(&self) -> impl Iterator<Item = &Name> {
        std::iter::once(&self.zone).chain(self.reverse_zones.iter())
    }

    /// Where `name` goes.
    pub fn route(&self, name: &Name) -> Route {
        let name = name.to_lowercase();
        if self.zone.zone_of(&name) {
            return self.route_in_zone(&name);
        }
        if self.reverse_zones.iter().any(|z| z.zone_of(&name)) {
            return Route::Cluster;
        }
        let labels: Vec<String> = name
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let service_prefix = labels.iter().take(2).take_while(|l| l.starts_with('_')).count();
        let (prefix, rest) = labels.split_at(service_prefix);
        let base: Option<Vec<&str>> = match rest {
            [svc] if dns1035(svc) => self.default_namespace.as_deref().map(|ns| vec![svc.as_str(), ns]),
            [svc, ns] if dns1035(svc) && dns1123(ns) && self.namespace_known(ns) => Some(vec![svc, ns]),
            [svc, ns, s] if s == "svc" && dns1035(svc) && dns1123(ns) => Some(vec![svc, ns]),
            _ => None,
        };
        let Some(base) = base else {
            return Route::Upstream;
        };
        let mut all: Vec<&str> = prefix.iter().map(String::as_str).collect();
        all.extend(base);
        all.push("svc");
        let expanded =
            Name::from_labels(all.iter().map(|l| l.as_bytes())).and_then(|n| n.append_domain(&self.zone));
        match expanded {
            Ok(expanded) => Route::ShortName { expanded },
            Err(_) => Route::Upstream,
        }
    }
}

impl Router {
    /// Names under `svc.<zone>` must look like `<ns>`, `<svc>.<ns>`, `<host>.<svc>.<ns>` or
    /// `_<port>._<proto>.<svc>.<ns>` before `svc`; anything else cannot exist.
    fn route_in_zone(&self, name: &Name) -> Route {
        let Ok(svc_zone) = Name::from_ascii("svc").and_then(|s| s.append_domain(&self.zone)) else {
            return Route::Cluster;
        };
        if !svc_zone.zone_of(name) {
            return Route::Cluster;
        }
        let extra = usize::from(name.num_labels() - svc_zone.num_labels());
        let labels: Vec<&[u8]> = name.iter().take(extra).collect();
        let underscored = labels.iter().take_while(|l| l.starts_with(b"_")).count();
        let shape_ok = matches!((extra, underscored), (0, 0) | (1, 0) | (2, 0) | (3, 0) | (4, 2));
        let ns_ok = labels
            .last()
            .is_none_or(|ns| self.namespace_known(&String::from_utf8_lossy(ns)));
        if shape_ok && ns_ok {
            Route::Cluster
        } else {
            Route::NxDomain
        }
    }
}

fn fqdn(mut name: Name) -> Name {
    name.set_fqdn(true);
    name
}

/// A Kubernetes Service name: a DNS-1035 label (starts with a letter).
fn dns1035(label: &str) -> bool {
    label.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && dns1123(label)
}

/// A namespace name: a DNS-1123 label.
fn dns1123(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn router() -> Router {
        Router::new(
            n("cluster.local"),
            vec![n("42.10.in-addr.arpa"), n("43.10.in-addr.arpa")],
            Some("default".into()),
        )
    }

    fn short(s: &str) -> Route {
        Route::ShortName { expanded: n(s) }
    }

    #[test]
    fn cluster_and_reverse_names_go_to_the_cluster() {
        let r = router();
        assert_eq!(r.route(&n("web.default.svc.cluster.local.")), Route::Cluster);
        assert_eq!(r.route(&n("WEB.Default.SVC.Cluster.Local.")), Route::Cluster);
        assert_eq!(r.route(&n("cluster.local.")), Route::Cluster);
        assert_eq!(r.route(&n("10.0.42.10.in-addr.arpa.")), Route::Cluster);
        assert_eq!(r.route(&n("10.0.44.10.in-addr.arpa.")), Route::Upstream);
    }

    #[test]
    fn short_names_expand_into_the_zone() {
        let r = router();
        assert_eq!(
            r.route(&n("web.default.")),
            short("web.default.svc.cluster.local.")
        );
        assert_eq!(r.route(&n("web.")), short("web.default.svc.cluster.local."));
        assert_eq!(
            r.route(&n("web.kube-system.svc.")),
            short("web.kube-system.svc.cluster.local.")
        );
        assert_eq!(
            r.route(&n("_http._tcp.web.default.")),
            short("_http._tcp.web.default.svc.cluster.local.")
        );
        // A public name shaped like <svc>.<ns> is asked of the cluster first (then upstream).
        assert_eq!(
            r.route(&n("example.com.")),
            short("example.com.svc.cluster.local.")
        );
    }

    #[test]
    fn other_names_go_upstream() {
        let r = router();
        for name in [
            "deb.debian.org.",
            "www.example.com.",
            "1password.com.",
            "my_host.lan.",
            "a.b.c.d.",
            "web.default.svc.other.",
            "_http._tcp.",
        ] {
            assert_eq!(r.route(&n(name)), Route::Upstream, "{name}");
        }
        let no_default = Router::new(n("cluster.local"), vec![], None);
        assert_eq!(no_default.route(&n("web.")), Route::Upstream);
        assert_eq!(
            no_default.route(&n("web.default.")),
            short("web.default.svc.cluster.local.")
        );
    }

    #[test]
    fn known_namespaces_keep_other_two_label_names_away_from_the_cluster() {
        let r = router().with_namespaces(Some(vec!["default".into(), "kube-system".into()]));
        assert_eq!(
            r.route(&n("web.default.")),
            short("web.default.svc.cluster.local.")
        );
        assert_eq!(r.route(&n("example.com.")), Route::Upstream);
        assert_eq!(r.route(&n("web.")), short("web.default.svc.cluster.local."));
    }

    #[test]
    fn impossible_service_names_are_answered_here() {
        let r = router();
        for name in [
            "www.example.com.default.svc.cluster.local.",
            "a.b.c.d.svc.cluster.local.",
            "_http.web.default.x.svc.cluster.local.",
        ] {
            assert_eq!(r.route(&n(name)), Route::NxDomain, "{name}");
        }
        for name in [
            "default.svc.cluster.local.",
            "echo-a.echo.default.svc.cluster.local.",
            "_http._tcp.web.default.svc.cluster.local.",
            "10-42-0-10.default.pod.cluster.local.",
        ] {
            assert_eq!(r.route(&n(name)), Route::Cluster, "{name}");
        }
        let known = router().with_namespaces(Some(vec!["default".into()]));
        assert_eq!(
            known.route(&n("www.example.com.svc.cluster.local.")),
            Route::NxDomain
        );
        assert_eq!(known.route(&n("web.default.svc.cluster.local.")), Route::Cluster);
    }

    #[test]
    fn another_zone_name_is_honoured() {
        let r = Router::new(n("corp.internal."), vec![], Some("apps".into()));
        assert_eq!(r.route(&n("api.")), short("api.apps.svc.corp.internal."));
        assert_eq!(r.route(&n("x.y.svc.corp.internal.")), Route::Cluster);
        assert_eq!(r.route(&n("x.y.svc.cluster.local.")), Route::Upstream);
    }
}
