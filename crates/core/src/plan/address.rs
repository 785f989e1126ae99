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

/// An address in `subnet` that no range of `taken` contains, chosen from the key: in the upper half of
/// the subnet (Kilo allocates leader addresses from the bottom), starting at a position derived from
/// the key and moving up (wrapping) past taken addresses. `None` when the subnet is full.
#[must_use]
pub fn choose_address(subnet: &IpNet, key: &PublicKey, taken: &[IpNet]) -> Option<IpAddr> {
    let host_bits = u32::from(subnet.max_prefix_len() - subnet.prefix_len()).min(64);
    if host_bits < 2 {
        return None;
    }
    let size = 1_u128 << host_bits;
    // Usable offsets: skip the network address and the last address (IPv4 broadcast).
    let (lo, hi) = if size >= 8 {
        (size / 2, size - 2)
    } else {
        (1, size - 2)
    };
    let span = hi - lo + 1;
    let base = to_u128(subnet.network());
    let v4 = subnet.network().is_ipv4();
    let start = u128::from(fnv1a(key.as_bytes())) % span;
    let limit = span.min(taken.len() as u128 + 1);
    (0..limit).find_map(|step| {
        let offset = lo + (start + step) % span;
        let ip = from_u128(v4, base + offset)?;
        (!taken.iter().any(|t| t.contains(&ip))).then_some(ip)
    })
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
    }

    #[test]
    fn full_subnet_gives_none() {
        let subnet: IpNet = "10.4.0.0/30".parse().unwrap();
        let taken: Vec<IpNet> = vec!["10.4.0.0/30".parse().unwrap()];
        assert_eq!(choose_address(&subnet, &key(1), &taken), None);
        assert!(choose_address(&"10.4.0.0/31".parse().unwrap(), &key(1), &[]).is_none());
    }
}
