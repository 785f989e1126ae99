//! Small facts about address ranges shared by topology, plan and policy.

use std::net::IpAddr;

use ipnet::IpNet;

/// True when the two ranges share at least one address (Kilo's `intersect`): their addresses agree
/// on the shorter of the two prefixes.
#[must_use]
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    let prefix = a.prefix_len().min(b.prefix_len());
    match (a, b) {
        (IpNet::V4(x), IpNet::V4(y)) => {
            let diff = u32::from(x.addr()) ^ u32::from(y.addr());
            diff.checked_shr(32 - u32::from(prefix)).unwrap_or(0) == 0
        }
        (IpNet::V6(x), IpNet::V6(y)) => {
            let diff = u128::from(x.addr()) ^ u128::from(y.addr());
            diff.checked_shr(128 - u32::from(prefix)).unwrap_or(0) == 0
        }
        _ => false,
    }
}

/// True when `inner` lies entirely inside `outer`.
#[must_use]
pub fn inside(inner: &IpNet, outer: &IpNet) -> bool {
    outer.contains(inner)
}

/// The range holding only `ip` (`/32` or `/128`).
#[must_use]
pub fn one_address(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Kilo's "public" test for leader election: not RFC 1918 and not `fd00::/8`.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_private(),
        IpAddr::V6(v6) => v6.octets()[0] != 0xfd,
    }
}

/// Parses `addr/len` as Go's `net.ParseCIDR` does, keeping the address as written
/// (`192.168.1.34/24` stays that; use [`IpNet::trunc`] for the network).
#[must_use]
pub fn parse(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn overlap_and_inside() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.0.0/16"), &net("10.2.0.0/16")));
        assert!(!overlaps(&net("10.1.0.0/16"), &net("fd00::/8")));
        assert!(overlaps(&net("0.0.0.0/0"), &net("192.0.2.1/32")));
        assert!(overlaps(&net("::/0"), &net("fd00::1/128")));
        assert!(overlaps(&net("192.168.1.34/24"), &net("192.168.1.0/32")));
        assert!(!overlaps(&net("192.168.1.34/32"), &net("192.168.1.35/32")));
        assert!(overlaps(&net("fd00::/8"), &net("fdff::1/128")));
        assert!(!overlaps(&net("fd00::/8"), &net("fe00::/8")));
        assert!(inside(&net("10.1.2.0/24"), &net("10.1.0.0/16")));
        assert!(!inside(&net("10.1.0.0/16"), &net("10.1.2.0/24")));
    }

    #[test]
    fn public_means_not_rfc1918_and_not_fd() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.1",
            "192.168.1.1",
            "fd00::1",
            "fd12::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["198.51.100.1", "172.32.0.1", "8.8.8.8", "2001:db8::1", "fc00::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
