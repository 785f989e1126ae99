//! A connection's name and its interface's name (issue 14: several clusters at once). A connection
//! is named by its kubeconfig context made DNS-safe (`[a-z0-9-]`, at most 63), or by `--name`; its
//! WireGuard interface is `kubewire-<name>` when that fits IFNAMSIZ (15 bytes), else
//! `kw-<first 7 of the name>-<4 hex of a hash of the name>`: a pure function of the name, so a crash
//! restore and the next start find the same interface.

use crate::check::iface::MAX_INTERFACE_NAME;

/// The longest connection name (a DNS label).
pub const MAX_CONNECTION_NAME: usize = 63;

/// The prefix of every interface a connection gets.
pub const INTERFACE_PREFIX: &str = "kubewire-";

/// The prefix of a shortened interface name.
const SHORT_PREFIX: &str = "kw-";

/// The interface name of single-connection kubewire (before issue 14): still recognised as ours.
pub const LEGACY_INTERFACE: &str = "kubewire0";

/// `text` made a DNS label: lowercase letters, digits and `-`, every other run of characters one
/// `-`, no `-` at either end, at most 63; `default` when nothing is left.
#[must_use]
pub fn connection_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(MAX_CONNECTION_NAME).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "default".to_owned() } else { out }
}

/// Whether `name` is already a connection name ([`connection_name`] leaves it as it is).
#[must_use]
pub fn is_connection_name(name: &str) -> bool {
    connection_name(name) == name
}

/// FNV-1a, 32 bits: stable across releases and platforms (the name must map to the same interface
/// after an upgrade, for the crash restore).
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The interface of the connection `name` (a [`connection_name`]).
#[must_use]
pub fn interface_name(name: &str) -> String {
    let long = format!("{INTERFACE_PREFIX}{name}");
    if long.len() <= MAX_INTERFACE_NAME {
        return long;
    }
    let first: String = name.chars().take(7).collect();
    let first = first.trim_end_matches('-');
    format!("{SHORT_PREFIX}{first}-{:04x}", fnv1a(name) & 0xffff)
}

/// Whether the interface `ifname` is one kubewire makes (any connection's, or the legacy one).
#[must_use]
pub fn is_ours(ifname: &str) -> bool {
    if ifname == LEGACY_INTERFACE || ifname.starts_with(INTERFACE_PREFIX) {
        return true;
    }
    // kw-<1..7>-<4 hex>
    let Some(rest) = ifname.strip_prefix(SHORT_PREFIX) else {
        return false;
    };
    let Some((first, hash)) = rest.rsplit_once('-') else {
        return false;
    };
    !first.is_empty() && first.len() <= 7 && hash.len() == 4 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_interface_name;

    #[test]
    fn contexts_become_dns_safe_names() {
        assert_eq!(connection_name("kubewire-lab"), "kubewire-lab");
        assert_eq!(connection_name("Prod"), "prod");
        assert_eq!(
            connection_name("arn:aws:eks:eu-west-1:123456789012:cluster/prod"),
            "arn-aws-eks-eu-west-1-123456789012-cluster-prod"
        );
        assert_eq!(
            connection_name("gke_proj_europe-west1_main"),
            "gke-proj-europe-west1-main"
        );
        assert_eq!(connection_name("--a..b--"), "a-b");
        assert_eq!(connection_name("élan"), "lan");
        assert_eq!(connection_name(""), "default");
        assert_eq!(connection_name("!!!"), "default");
        let long = connection_name(&"a-".repeat(100));
        assert!(
            long.len() <= MAX_CONNECTION_NAME && !long.ends_with('-'),
            "{long}"
        );
        assert!(is_connection_name("kubewire-lab"));
        assert!(!is_connection_name("Prod"));
    }

    #[test]
    fn short_names_get_kubewire_name_and_long_ones_a_stable_short_form() {
        assert_eq!(interface_name("prod"), "kubewire-prod");
        assert_eq!(interface_name("a12345"), "kubewire-a12345");
        // 16 bytes would not fit.
        let seven = interface_name("a123456");
        assert!(seven.starts_with("kw-a123456-"), "{seven}");
        let lab = interface_name("kubewire-lab");
        assert!(lab.starts_with("kw-kubewir-"), "{lab}");
        // Stable: the same name, the same interface (the hash is fixed, not per process).
        assert_eq!(lab, interface_name("kubewire-lab"));
        assert_eq!(lab, format!("kw-kubewir-{:04x}", fnv1a("kubewire-lab") & 0xffff));
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        // Names that share their first 7 characters still differ.
        assert_ne!(
            interface_name("staging-eu-west"),
            interface_name("staging-us-east")
        );
        // A '-' at the cut is dropped (no "--").
        assert!(!interface_name("abcdef-long-name").contains("--"));
    }

    #[test]
    fn every_interface_fits_ifnamsiz_passes_the_check_and_is_recognised_as_ours() {
        for name in [
            "a",
            "prod",
            "a12345",
            "a123456",
            "kubewire-lab",
            "abcdef-long-name",
            &"x".repeat(63),
            &connection_name("arn:aws:eks:eu-west-1:123456789012:cluster/prod"),
        ] {
            let ifname = interface_name(name);
            assert!(ifname.len() <= MAX_INTERFACE_NAME, "{ifname}");
            check_interface_name(&ifname).unwrap();
            assert!(is_ours(&ifname), "{ifname}");
        }
        assert!(is_ours("kubewire0"));
        for other in [
            "eth0",
            "wg0",
            "kw-",
            "kw-abc-12",
            "kw-abcdefgh-1234",
            "docker0",
            "kwg-aws",
        ] {
            assert!(!is_ours(other), "{other}");
        }
    }
}
