//! Choosing the laptop's address in the Kilo WireGuard subnet: stable for the same key, colliding with
//! no segment address and no Peer.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::key::PublicKey;

/// FNV-1a, 64 bits: a stable, dependency-free hash of the key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(v4: bool, value: u128) -> Option<IpAddr> {
    if v4 {
        u32::try_from(value).ok().map(|v| IpAddr::V4(v.into()))
    } else {
        Some(IpAddr::V6(value.into()))
    }
}

/// An address in `subnet` that no range of `taken` contains, chosen from the key: starting in the
/// upper half of the subnet (Kilo allocates leader addresses from the bottom) at a position derived
/// from the key, moving up (wrapping, skipping whole taken ranges). `None` when the subnet is full.
#[must_use]
pub fn choose_address(subnet: &IpNet, key: &PublicKey, taken: &[IpNet]) -> Option<IpAddr> {
    let host_bits = u32::from(subnet.max_prefix_len() - subnet.prefix_len()).min(64);
    if host_bits < 2 {
        return None;
    }
    let size = 1_u128 << host_bits;
    // Usable offsets 1..=size-2: not the network address, not the last one (IPv4 broadcast).
    let span = size - 2;
    let half = size / 2 - 1;
    let hash = u128::from(fnv1a(key.as_bytes()));
    let mut position = if half > 0 { half + hash % (span - half) } else { 0 };
    let base = to_u128(subnet.network());
    let v4 = subnet.network().is_ipv4();
    let mut travelled: u128 = 0;
    for _ in 0..=2 * (taken.len() + 1) {
        let ip = from_u128(v4, base + 1 + position)?;
        let Some(blocker) = taken.iter().find(|t| t.contains(&ip)) else {
            return Some(ip);
        };
        // Jump past the blocking range.
        let past = to_u128(blocker.broadcast())
            .saturating_sub(base)
            .max(1 + position);
        let step = past - position;
        travelled = travelled.saturating_add(step);
        if travelled >= span {
            return None;
        }
        position = past % span;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PublicKey {
        PublicKey::from_bytes([byte; 32])
    }

    #[test]
    fn stable_for_a_key_and_in_the_upper_half() {
        let subnet: IpNet = "10.4.0.0/16".parse().unwrap();
        let a = choose_address(&subnet, &key(1), &[]).unwrap();
        assert_eq!(a, choose_address(&subnet, &key(1), &[]).unwrap());
        assert!(subnet.contains(&a));
        assert!(to_u128(a) >= to_u128("10.4.128.0".parse().unwrap()));
        assert_ne!(a, choose_address(&subnet, &key(2), &[]).unwrap());
    }

    #[test]
    fn moves_past_taken_addresses() {
        let subnet: IpNet = "10.4.0.0/16".parse().unwrap();
        let first = choose_address(&subnet, &key(7), &[]).unwrap();
        let taken = vec![IpNet::from(first)];
        let second = choose_address(&subnet, &key(7), &taken).unwrap();
        assert_ne!(first, second);
        assert!(subnet.contains(&second));
        // A whole taken upper half sends it to the lower half.
        let taken = vec!["10.4.128.0/17".parse().unwrap(), "10.4.0.0/18".parse().unwrap()];
        let third = choose_address(&subnet, &key(7), &taken).unwrap();
        assert!(
            "10.4.64.0/18".parse::<IpNet>().unwrap().contains(&third),
            "{third}"
        );
    }

    #[test]
    fn full_subnet_gives_none() {
        let subnet: IpNet = "10.4.0.0/30".parse().unwrap();
        let taken: Vec<IpNet> = vec!["10.4.0.0/30".parse().unwrap()];
        assert_eq!(choose_address(&subnet, &key(1), &taken), None);
        let subnet: IpNet = "10.4.0.0/16".parse().unwrap();
        let taken: Vec<IpNet> = vec!["10.4.0.0/17".parse().unwrap(), "10.4.128.0/17".parse().unwrap()];
        assert_eq!(choose_address(&subnet, &key(1), &taken), None);
        assert!(choose_address(&"10.4.0.0/31".parse().unwrap(), &key(1), &[]).is_none());
    }
}
