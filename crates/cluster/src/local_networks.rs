//! The laptop's own networks (its routing table, minus default routes and kubewire's own interface):
//! ranges of the cluster that overlap them are refused by the planner, and `doctor` reports them.

use ipnet::IpNet;

/// The laptop's networks, except those on `own_interface` and on any interface of kubewire's
/// (another connection's ranges are not a local network: the daemon refuses a Plan that overlaps
/// them, naming that connection).
#[must_use]
pub fn local_networks(own_interface: &str) -> Vec<IpNet> {
    imp::routes(own_interface)
        .into_iter()
        .filter(|n| n.prefix_len() > 0)
        .collect()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::IpNet;

    /// IPv4 from `/proc/net/route` (little-endian hex), IPv6 from `/proc/net/ipv6_route`.
    pub fn routes(own: &str) -> Vec<IpNet> {
        let mut out = Vec::new();
        if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 8 || f[0] == own || kubewire_core::connection::is_ours(f[0]) {
                    continue;
                }
                let (Ok(dest), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
                else {
                    continue;
                };
                // The kernel prints the address in host (little-endian) byte order.
                let dest = Ipv4Addr::from(dest.to_le_bytes());
                let prefix = u8::try_from(mask.count_ones()).unwrap_or(0);
                if let Ok(net) = IpNet::new(dest.into(), prefix) {
                    out.push(net.trunc());
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string("/proc/net/ipv6_route") {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 10 || f[9] == own || f[9] == "lo" || kubewire_core::connection::is_ours(f[9]) {
                    continue;
                }
                let (Ok(dest), Ok(prefix)) = (u128::from_str_radix(f[0], 16), u8::from_str_radix(f[1], 16))
                else {
                    continue;
                };
                let addr = Ipv6Addr::from(dest);
                if addr.segments()[0] & 0xff00 == 0xff00 || addr.segments()[0] & 0xffc0 == 0xfe80 {
                    continue;
                }
                if let Ok(net) = IpNet::new(addr.into(), prefix) {
                    out.push(net.trunc());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn reads_this_machines_routes_without_defaults() {
        let nets = super::local_networks("kubewire0");
        assert!(nets.iter().all(|n| n.prefix_len() > 0));
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use ipnet::IpNet;

    /// Not read on this OS yet (the daemon still checks the Plan against the live routes).
    pub fn routes(_own: &str) -> Vec<IpNet> {
        Vec::new()
    }
}
