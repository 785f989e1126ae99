//! The reverse zones (`in-addr.arpa`, `ip6.arpa`) that cover routed ranges. Pure.

use std::net::IpAddr;

use hickory_proto::rr::Name;
use ipnet::IpNet;

/// At most this many zones for one range (a /9 gives 128 zones under a /16 boundary).
const MAX_ZONES_PER_RANGE: u32 = 256;

/// The smallest set of reverse zones at label boundaries that covers every range: IPv4 at octets,
/// IPv6 at nibbles. Ranges broader than /8 (IPv6 /16) are skipped (the policy refuses them anyway).
/// Sorted, without zones inside other zones.
pub fn reverse_zones(ranges: &[IpNet]) -> Vec<Name> {
    let mut zones: Vec<(IpNet, Name)> = Vec::new();
    for range in ranges {
        let (step, min) = match range {
            IpNet::V4(_) => (8u8, 8u8),
            IpNet::V6(_) => (4u8, 16u8),
        };
        let prefix = range.prefix_len();
        if prefix < min {
            continue;
        }
        let boundary = prefix.div_ceil(step) * step;
        let count = 1u32 << (boundary - prefix);
        if count > MAX_ZONES_PER_RANGE {
            continue;
        }
        let Ok(subnets) = range.trunc().subnets(boundary) else {
            continue;
        };
        for net in subnets {
            if let Some(name) = zone_name(&net, step) {
                zones.push((net, name));
            }
        }
    }
    zones.sort_by_key(|z| z.0);
    zones.dedup_by(|a, b| a.0 == b.0);
    let nets: Vec<IpNet> = zones.iter().map(|(n, _)| *n).collect();
    zones
        .into_iter()
        .filter(|(net, _)| !nets.iter().any(|o| o != net && o.contains(net)))
        .map(|(_, name)| name)
        .collect()
}

fn zone_name(net: &IpNet, step: u8) -> Option<Name> {
    let labels = usize::from(net.prefix_len() / step);
    let text = match net.network() {
        IpAddr::V4(a) => {
            let mut parts: Vec<String> = a.octets()[..labels].iter().map(u8::to_string).collect();
            parts.reverse();
            parts.push("in-addr.arpa.".into());
            parts.join(".")
        }
        IpAddr::V6(a) => {
            let nibbles: Vec<String> = a
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xf])
                .take(labels)
                .map(|n| format!("{n:x}"))
                .collect();
            let mut parts: Vec<String> = nibbles.into_iter().rev().collect();
            parts.push("ip6.arpa.".into());
            parts.join(".")
        }
    };
    Name::from_ascii(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(ranges: &[&str]) -> Vec<String> {
        let ranges: Vec<IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        reverse_zones(&ranges).iter().map(Name::to_string).collect()
    }

    #[test]
    fn octet_aligned_ranges_give_one_zone() {
        assert_eq!(
            zones(&["10.42.0.0/16", "10.43.0.0/16"]),
            ["42.10.in-addr.arpa.", "43.10.in-addr.arpa."]
        );
        assert_eq!(zones(&["192.168.7.0/24"]), ["7.168.192.in-addr.arpa."]);
        assert_eq!(zones(&["10.0.0.0/8"]), ["10.in-addr.arpa."]);
    }

    #[test]
    fn unaligned_ranges_are_covered_at_the_next_octet() {
        let z = zones(&["10.42.0.0/23"]);
        assert_eq!(z, ["0.42.10.in-addr.arpa.", "1.42.10.in-addr.arpa."]);
        assert_eq!(zones(&["10.4.0.1/32"]), ["1.0.4.10.in-addr.arpa."]);
        assert_eq!(zones(&["172.16.0.0/12"]).len(), 16);
    }

    #[test]
    fn nested_and_duplicate_ranges_collapse() {
        assert_eq!(
            zones(&["10.42.1.0/24", "10.42.0.0/16", "10.42.0.0/16"]),
            ["42.10.in-addr.arpa."]
        );
    }

    #[test]
    fn too_broad_ranges_are_skipped_and_ipv6_uses_nibbles() {
        assert!(zones(&["0.0.0.0/0", "10.0.0.0/7"]).is_empty());
        assert_eq!(zones(&["fd00:42::/32"]), ["2.4.0.0.0.0.d.f.ip6.arpa."]);
        assert_eq!(zones(&["fd00::/18"]).len(), 4);
    }
}
