//! Which short names may stand for a cluster name: the rule that keeps internet names away from the
//! cluster DNS. A cluster is not trusted to name things on the internet: a namespace `com` with a
//! Service `github` must not turn `github.com` into a cluster address, and a Service `localhost` in
//! the default namespace must not capture `localhost`.
//!
//! A name is *public* when its last labels are a public suffix known to Mozilla's Public Suffix List
//! (the `psl` crate: every TLD, `co.uk`, `github.io`, ...) or a special-use name that never belongs
//! to a cluster: RFC 6761 (`localhost`, `local`, `test`, `example`, `invalid`), RFC 7686 (`onion`),
//! RFC 9476 (`alt`), ICANN's private-use `internal`, and the private pseudo-TLDs of RFC 6762
//! appendix G that home and office networks use (`lan`, `home`, `corp`, `private`, `intranet`)
//! plus `localdomain`. The PSL already treats unknown TLDs as suffixes for cookies; here only the
//! ones it lists count (`default`, `kube-system`, `team-a` are not public).

/// Special-use and private pseudo top-level names (see the module doc) the PSL does not list.
const SPECIAL_USE: &[&str] = &[
    "localhost",
    "local",
    "test",
    "example",
    "invalid",
    "onion",
    "alt",
    "internal",
    "lan",
    "home",
    "corp",
    "private",
    "intranet",
    "localdomain",
];

/// Whether `name` (labels separated by dots, a trailing dot allowed, any case) ends in a public
/// suffix or a special-use name, so that it names something outside any cluster.
#[must_use]
pub fn is_public_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return true;
    }
    let last = name.rsplit('.').next().unwrap_or(&name);
    if SPECIAL_USE.contains(&last) {
        return true;
    }
    psl::suffix(name.as_bytes()).is_some_and(|s| s.is_known())
}

/// Whether a namespace called `ns` may be used for `<svc>.<ns>` short names: never when its name is
/// public ([`is_public_name`]), since `<svc>.<ns>` would then shadow an internet name.
#[must_use]
pub fn namespace_usable_for_short_names(ns: &str) -> bool {
    !ns.contains('.') && !is_public_name(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_domains_and_public_suffixes_are_public() {
        for name in [
            "com",
            "dev",
            "app",
            "io",
            "co.uk",
            "uk",
            "github.com",
            "example.com.",
            "GitHub.COM",
            "foo.github.io",
            "shop",
            "arpa",
        ] {
            assert!(is_public_name(name), "{name}");
        }
    }

    #[test]
    fn special_use_names_are_public() {
        for name in [
            "localhost",
            "example.test",
            "printer.lan",
            "router.home",
            "x.internal",
            "nas.local",
            "host.localdomain",
            "",
            ".",
        ] {
            assert!(is_public_name(name), "{name}");
        }
    }

    #[test]
    fn ordinary_namespace_names_are_not_public() {
        for name in [
            "default",
            "kube-system",
            "team-a",
            "payments",
            "web.default",
            "staging-2",
        ] {
            assert!(!is_public_name(name), "{name}");
            assert!(namespace_usable_for_short_names(
                name.split('.').next_back().unwrap()
            ));
        }
        assert!(!namespace_usable_for_short_names("com"));
        assert!(!namespace_usable_for_short_names("dev"));
        assert!(!namespace_usable_for_short_names("a.b"));
    }
}
