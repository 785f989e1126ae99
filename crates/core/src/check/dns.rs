//! The DNS fields of a Plan. They end up in resolv.conf, systemd-resolved's link settings, Windows
//! NRPT rules and `/etc/resolver/<zone>`, and they decide which names the laptop asks the cluster. A
//! zone of `com` (or the root) would send every `.com` lookup to a server of the sender's choice, and a
//! newline in a name would write lines of its own into resolv.conf.
//!
//! The rule: the zone is a plausible cluster domain: a name of letters, digits and `-` labels, not
//! the root, not a public suffix (`com`, `co.uk`, `local`, any single label; Mozilla's Public Suffix
//! List through the `psl` crate), and not a registrable domain of a known public suffix
//! (`google.com`): a cluster lives under a private name (`cluster.local`) or under a domain its owner
//! has (`k8s.example.com`). Search domains lie under the zone (at most six); the DNS server lies inside
//! the ranges the Plan routes to the cluster.

use std::net::IpAddr;

use ipnet::IpNet;

use super::caps::capped;

/// The most search domains a Plan may carry.
pub const MAX_SEARCH: usize = 6;

/// Why the DNS part of a Plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Not a well-formed DNS name (characters, label or name length).
    #[error(
        "{what} {name:?} is not a DNS name: {why} (use labels of letters, digits and '-', such as cluster.local)"
    )]
    BadName {
        /// Which field.
        what: &'static str,
        /// The name, escaped and shortened.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The root, a public suffix or a registrable public domain.
    #[error(
        "cluster zone {zone:?} is refused: {why}; a cluster domain is a private name such as cluster.local or \
         a name under a domain you own such as k8s.example.com (set it with --cluster-domain)"
    )]
    PublicZone {
        /// The zone.
        zone: String,
        /// Why.
        why: &'static str,
    },
    /// A search domain outside the zone.
    #[error("search domain {search:?} is not under the cluster zone {zone:?}")]
    SearchOutsideZone {
        /// The search domain.
        search: String,
        /// The zone.
        zone: String,
    },
    /// Too many search domains.
    #[error("{0} search domains; at most {MAX_SEARCH} are accepted")]
    TooManySearch(usize),
    /// The server is not inside the ranges routed to the cluster.
    #[error(
        "the cluster DNS server {0} is not inside the ranges routed through the tunnel: cluster names would be \
         asked of a server outside the cluster"
    )]
    ServerNotRouted(IpAddr),
}

/// Checks that `name` is a DNS name kubewire can write anywhere: ASCII letters, digits and `-` in
/// labels of 1 to 63 characters (not starting or ending with `-`), 253 characters in all, no leading
/// or trailing dot.
pub fn check_name(what: &'static str, name: &str) -> Result<(), DnsError> {
    let bad = |why| DnsError::BadName {
        what,
        name: capped(name, 80),
        why,
    };
    if name.is_empty() || name == "." {
        return Err(bad("it is empty (the root)"));
    }
    if name.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad(
            "it has characters other than letters, digits, '-' and '.' (spaces, quotes and control characters are refused)",
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(bad("it has an empty label (a leading, trailing or double dot)"));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with '-'"));
        }
    }
    Ok(())
}

/// Checks the cluster zone: a well-formed name, not the root, not a public suffix, not a registrable
/// domain under a known public suffix.
pub fn check_zone(zone: &str) -> Result<(), DnsError> {
    check_name("cluster zone", zone)?;
    let lower = zone.to_ascii_lowercase();
    let public = |why| DnsError::PublicZone {
        zone: zone.to_owned(),
        why,
    };
    let Some(suffix) = psl::suffix(lower.as_bytes()) else {
        return Err(public("it is not a domain name"));
    };
    if suffix.as_bytes().len() == lower.len() {
        return Err(public(if suffix.is_known() {
            "it is a public suffix: every name under it would go to the cluster"
        } else {
            "it is a top-level domain: every name under it would go to the cluster"
        }));
    }
    if suffix.is_known() && psl::domain(lower.as_bytes()).is_some_and(|d| d.as_bytes().len() == lower.len()) {
        return Err(public(
            "it is a registrable public domain: the cluster would answer for a whole internet domain",
        ));
    }
    Ok(())
}

/// Checks zone, search domains and server of a Plan; `routes` are the ranges the Plan routes.
pub fn check_dns(
    zone: &str,
    search: &[String],
    server: Option<IpAddr>,
    routes: &[IpNet],
) -> Result<(), DnsError> {
    check_zone(zone)?;
    if search.len() > MAX_SEARCH {
        return Err(DnsError::TooManySearch(search.len()));
    }
    for s in search {
        check_name("search domain", s)?;
        if !is_under(s, zone) {
            return Err(DnsError::SearchOutsideZone {
                search: s.clone(),
                zone: zone.to_owned(),
            });
        }
    }
    if let Some(ip) = server
        && !routes.iter().any(|r| r.contains(&ip))
    {
        return Err(DnsError::ServerNotRouted(ip));
    }
    Ok(())
}

/// `name` is `zone` or a name under it (case-insensitive).
#[must_use]
pub fn is_under(name: &str, zone: &str) -> bool {
    let (name, zone) = (name.to_ascii_lowercase(), zone.to_ascii_lowercase());
    name == zone || name.strip_suffix(&zone).is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_domains_pass() {
        for zone in [
            "cluster.local",
            "k8s.example.com",
            "prod.cluster.internal",
            "Cluster.Local",
            "c.lan",
        ] {
            assert!(check_zone(zone).is_ok(), "{zone}: {:?}", check_zone(zone));
        }
    }

    #[test]
    fn public_suffixes_and_the_root_are_refused() {
        for zone in [
            "com",
            "co.uk",
            "local",
            "internal",
            "github.io",
            "google.com",
            "bbc.co.uk",
        ] {
            assert!(
                matches!(check_zone(zone), Err(DnsError::PublicZone { .. })),
                "{zone}: {:?}",
                check_zone(zone)
            );
        }
        for zone in [".", "", "cluster.local.", ".cluster.local", "a..b"] {
            assert!(
                matches!(check_zone(zone), Err(DnsError::BadName { .. })),
                "{zone:?}"
            );
        }
        let e = check_zone("com").unwrap_err().to_string();
        assert!(e.contains("\"com\"") && e.contains("public suffix"), "{e}");
    }

    #[test]
    fn injection_characters_are_refused() {
        for zone in [
            "cluster.local\nnameserver 8.8.8.8",
            "cluster.local nameserver",
            "cluster\".local",
            "cluster.local\0",
            "cluster\t.local",
            "clu;ster.local",
            "-a.cluster.local",
            "clusté.local",
        ] {
            let e = check_zone(zone).unwrap_err();
            assert!(matches!(e, DnsError::BadName { .. }), "{zone:?}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn search_domains_lie_under_the_zone_and_the_server_is_routed() {
        let routes: Vec<IpNet> = vec!["10.43.0.0/16".parse().unwrap()];
        let dns_ip: IpAddr = "10.43.0.10".parse().unwrap();
        let ok = vec![
            "default.svc.cluster.local".to_owned(),
            "svc.cluster.local".to_owned(),
        ];
        assert!(check_dns("cluster.local", &ok, Some(dns_ip), &routes).is_ok());
        let outside = vec!["example.com".to_owned()];
        assert!(matches!(
            check_dns("cluster.local", &outside, None, &routes),
            Err(DnsError::SearchOutsideZone { .. })
        ));
        let sneaky = vec!["evilcluster.local".to_owned()];
        assert!(check_dns("cluster.local", &sneaky, None, &routes).is_err());
        let many = vec!["svc.cluster.local".to_owned(); 7];
        assert!(matches!(
            check_dns("cluster.local", &many, None, &routes),
            Err(DnsError::TooManySearch(7))
        ));
        let e = check_dns(
            "cluster.local",
            &ok,
            Some("192.168.1.1".parse().unwrap()),
            &routes,
        )
        .unwrap_err();
        assert_eq!(e, DnsError::ServerNotRouted("192.168.1.1".parse().unwrap()));
    }
}
