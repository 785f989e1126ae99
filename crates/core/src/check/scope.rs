//! Which ranges the cluster may route: private-use ranges (RFC 1918, the shared address space
//! 100.64.0.0/10, IPv6 unique-local fc00::/7), and a public range only when the user allowed it
//! explicitly (`--allow-public-range`). A cluster that hands out `1.0.0.0/8` (in allowed-location-ips,
//! a Peer's allowedIPs or a ServiceCIDR) would otherwise take that part of the internet into the tunnel.

use std::sync::LazyLock;

use ipnet::IpNet;

use crate::policy::broadest_prefix;

/// The private-use ranges, as text (for messages and docs).
pub const PRIVATE_USE_TEXT: &str = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7";

static PRIVATE_USE: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    PRIVATE_USE_TEXT
        .split(", ")
        .filter_map(|s| s.parse().ok())
        .collect()
});

/// Loopback, link-local, multicast and unspecified ranges, which no allow-list can open.
static NEVER: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
});

/// True when `range` lies entirely inside one private-use range.
#[must_use]
pub fn is_private_use(range: &IpNet) -> bool {
    PRIVATE_USE.iter().any(|p| p.contains(range))
}

/// True when the cluster may route `range`: private-use, or inside a range the user allowed.
#[must_use]
pub fn permitted(range: &IpNet, allowed_public: &[IpNet]) -> bool {
    is_private_use(range) || allowed_public.iter().any(|a| a.contains(range))
}

/// Why an entry of the allow-list itself is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    /// Broader than /8 (IPv6 /16): a default route or a full-tunnel `0/1 + 128/1` can never be allowed.
    #[error(
        "--allow-public-range {0}: broader than /8 (IPv6 /16); kubewire never routes a default route or \
         such a share of the internet into the cluster: allow the narrower ranges the cluster really uses"
    )]
    TooBroad(IpNet),
    /// Loopback, link-local, multicast or unspecified.
    #[error("--allow-public-range {0}: loopback, link-local, multicast and reserved ranges are never routed")]
    Special(IpNet),
}

/// Checks the user's allow-list: every entry at most as broad as /8 (IPv6 /16) and clear of loopback,
/// link-local, multicast and reserved ranges. Private-use entries are accepted (they change nothing).
pub fn check_allow_list(allowed_public: &[IpNet]) -> Result<(), AllowListError> {
    for range in allowed_public {
        if range.prefix_len() < broadest_prefix(range) {
            return Err(AllowListError::TooBroad(*range));
        }
        if NEVER.iter().any(|n| crate::cidr::overlaps(n, range)) {
            return Err(AllowListError::Special(*range));
        }
    }
    Ok(())
}

/// Parses one `--allow-public-range` value (for clap): a CIDR that passes [`check_allow_list`].
pub fn parse_allowed_range(text: &str) -> Result<IpNet, String> {
    let range: IpNet = text
        .parse()
        .map_err(|e| format!("{text:?} is not a CIDR range such as 203.0.113.0/24: {e}"))?;
    check_allow_list(&[range]).map_err(|e| e.to_string())?;
    Ok(range.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn private_use_ranges_are_permitted_and_public_ones_are_not() {
        for private in [
            "10.42.0.0/16",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "172.31.1.0/24",
            "192.168.10.0/24",
            "100.64.0.0/10",
            "100.127.255.0/24",
            "fd00:42::/64",
            "fc00::/7",
        ] {
            assert!(permitted(&net(private), &[]), "{private}");
        }
        for public in [
            "1.0.0.0/8",
            "8.8.8.0/24",
            "172.32.0.0/16",
            "100.128.0.0/16",
            "11.0.0.0/8",
            "9.0.0.0/7",
            "2001:db8::/32",
            "64:ff9b::/96",
            "::ffff:0:0/96",
            "192.0.2.0/24",
            // A range that only starts inside a private-use range.
            "10.0.0.0/7",
            "172.16.0.0/11",
        ] {
            assert!(!permitted(&net(public), &[]), "{public}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let allowed = [net("203.0.113.0/24"), net("2001:db8:1::/48")];
        assert!(permitted(&net("203.0.113.0/24"), &allowed));
        assert!(permitted(&net("203.0.113.128/25"), &allowed));
        assert!(permitted(&net("2001:db8:1:2::/64"), &allowed));
        assert!(!permitted(&net("203.0.112.0/23"), &allowed));
        assert!(!permitted(&net("198.51.100.0/24"), &allowed));
    }

    #[test]
    fn the_allow_list_itself_is_bounded() {
        assert!(check_allow_list(&[net("1.0.0.0/8"), net("203.0.113.0/24")]).is_ok());
        for broad in ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "::/0", "2000::/3"] {
            assert!(
                matches!(check_allow_list(&[net(broad)]), Err(AllowListError::TooBroad(_))),
                "{broad}"
            );
        }
        for special in [
            "127.0.0.0/8",
            "169.254.169.254/32",
            "224.0.0.0/8",
            "fe80::/16",
            "ff02::/16",
        ] {
            assert!(
                matches!(check_allow_list(&[net(special)]), Err(AllowListError::Special(_))),
                "{special}"
            );
        }
        let e = parse_allowed_range("0.0.0.0/1").unwrap_err();
        assert!(e.contains("broader than /8"), "{e}");
        assert_eq!(
            parse_allowed_range("203.0.113.7/24").unwrap(),
            net("203.0.113.0/24")
        );
        assert!(
            parse_allowed_range("nonsense")
                .unwrap_err()
                .contains("not a CIDR")
        );
    }
}
