//! Which upstream a query name goes to: the cluster, the cluster after expanding a short name, or the
//! laptop's original nameservers. Pure: no I/O.
//!
//! The rule (documented in the crate README): internet names never reach the cluster, and the
//! cluster never answers for them.
//! - names under the cluster zone or under a reverse zone of the routed ranges go to the cluster DNS;
//! - `<svc>.<ns>` (and `_port._proto.<svc>.<ns>`, `<svc>.<ns>.svc`) is asked of the cluster as
//!   `<svc>.<ns>.svc.<zone>` only when `<ns>` is one of the cluster's namespaces (the Plan's list,
//!   kept live by the controller's watch) and is not named like a public domain
//!   ([`kubewire_core::dns_names`]: `com`, `dev`, `io`, `test`, `lan`...). While the list is unknown
//!   no two-label name is asked. When the cluster has the name (an answer or an empty NOERROR) its
//!   answer is returned behind a CNAME; otherwise (NXDOMAIN, tunnel down) the original name goes
//!   upstream unchanged;
//! - a single label `web` is asked as `web.<default namespace>.svc.<zone>`, falling back the same
//!   way, unless the label itself is a public or special-use name (`com`, `localhost`, `dev`);
//! - every other name (three or more labels, labels a Service or namespace cannot have) goes upstream
//!   unchanged, never seen by the cluster.

use hickory_proto::rr::Name;
use kubewire_core::dns_names::{is_public_name, namespace_usable_for_short_names};

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

    /// The cluster's namespaces: only these count for `<svc>.<ns>` (other two-label names go
    /// straight upstream, the cluster never sees them). `None` (unknown): no two-label name is
    /// asked of the cluster.
    pub fn with_namespaces(mut self, namespaces: Option<Vec<String>>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Names under `svc.<zone>` may be in this namespace: it exists, or the list is unknown.
    fn namespace_may_exist(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|known| known.iter().any(|k| k == ns))
    }

    /// `<svc>.<ns>` may stand for `<svc>.<ns>.svc.<zone>`: the namespace is known to exist and its
    /// name shadows no public one.
    fn namespace_for_short_names(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_some_and(|known| known.iter().any(|k| k == ns))
            && namespace_usable_for_short_names(ns)
    }

    /// `<svc>.<ns>.svc` (explicit): the namespace may exist and its name shadows no public one.
    fn namespace_for_svc_names(&self, ns: &str) -> bool {
        self.namespace_may_exist(ns) && namespace_usable_for_short_names(ns)
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
            [svc] if dns1035(svc) && !is_public_name(svc) => {
                self.default_namespace.as_deref().map(|ns| vec![svc.as_str(), ns])
            }
            [svc, ns] if dns1035(svc) && dns1123(ns) && self.namespace_for_short_names(ns) => {
                Some(vec![svc, ns])
            }
            [svc, ns, s] if s == "svc" && dns1035(svc) && dns1123(ns) && self.namespace_for_svc_names(ns) => {
                Some(vec![svc, ns])
            }
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
            .is_none_or(|ns| self.namespace_may_exist(&String::from_utf8_lossy(ns)));
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

    fn known(names: &[&str]) -> Router {
        router().with_namespaces(Some(names.iter().map(|s| (*s).to_owned()).collect()))
    }

    #[test]
    fn short_names_in_a_known_namespace_expand_into_the_zone() {
        let r = known(&["default", "kube-system"]);
        assert_eq!(
            r.route(&n("web.default.")),
            short("web.default.svc.cluster.local.")
        );
        assert_eq!(r.route(&n("api.")), short("api.default.svc.cluster.local."));
        assert_eq!(
            r.route(&n("web.kube-system.svc.")),
            short("web.kube-system.svc.cluster.local.")
        );
        assert_eq!(
            r.route(&n("_http._tcp.web.default.")),
            short("_http._tcp.web.default.svc.cluster.local.")
        );
    }

    #[test]
    fn internet_names_never_reach_the_cluster_even_with_a_namespace_of_that_name() {
        // A hostile cluster with namespaces `com`, `dev`, `test`, `lan`: their names stay public.
        let r = known(&["default", "com", "dev", "app", "io", "test", "lan"]);
        for name in [
            "github.com.",
            "GitHub.Com.",
            "example.test.",
            "web.dev.",
            "my.app.",
            "x.io.",
            "printer.lan.",
            "_http._tcp.github.com.",
            "github.com.svc.",
        ] {
            assert_eq!(r.route(&n(name)), Route::Upstream, "{name}");
        }
    }

    #[test]
    fn two_label_names_stay_upstream_while_namespaces_are_unknown() {
        let r = router();
        for name in [
            "example.com.",
            "example.test.",
            "web.default.",
            "_http._tcp.web.default.",
        ] {
            assert_eq!(r.route(&n(name)), Route::Upstream, "{name}");
        }
        // Single labels and the explicit `.svc` form still work.
        assert_eq!(r.route(&n("api.")), short("api.default.svc.cluster.local."));
        assert_eq!(
            r.route(&n("web.default.svc.")),
            short("web.default.svc.cluster.local.")
        );
    }

    #[test]
    fn an_unknown_namespace_is_not_asked() {
        let r = known(&["default"]);
        assert_eq!(r.route(&n("web.team-a.")), Route::Upstream);
        assert_eq!(r.route(&n("web.team-a.svc.")), Route::Upstream);
        assert_eq!(r.route(&n("example.com.")), Route::Upstream);
        let later = known(&["default", "team-a"]);
        assert_eq!(
            later.route(&n("web.team-a.")),
            short("web.team-a.svc.cluster.local.")
        );
    }

    #[test]
    fn a_single_label_that_is_a_public_or_special_name_is_never_captured() {
        let r = known(&["default"]);
        // `web` and `app` are top-level domains too: `web.default` reaches that Service.
        for name in [
            "com.",
            "localhost.",
            "dev.",
            "app.",
            "web.",
            "local.",
            "test.",
            "internal.",
        ] {
            assert_eq!(r.route(&n(name)), Route::Upstream, "{name}");
        }
        assert_eq!(r.route(&n("api.")), short("api.default.svc.cluster.local."));
    }

    #[test]
    fn other_names_go_upstream() {
        let r = known(&["default"]);
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
        let no_default =
            Router::new(n("cluster.local"), vec![], None).with_namespaces(Some(vec!["default".into()]));
        assert_eq!(no_default.route(&n("web.")), Route::Upstream);
        assert_eq!(
            no_default.route(&n("web.default.")),
            short("web.default.svc.cluster.local.")
        );
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
