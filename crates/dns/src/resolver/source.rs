//! Who may ask a listener: the laptop's own listener answers the laptop only (loopback, its own
//! listen address); a container bridge's listener answers only sources inside that bridge's subnet
//! (see [`super::bridge`]). Everything else is dropped without an answer, so the resolver is never
//! an open resolver on another network.

use std::net::IpAddr;

use ipnet::Ipv4Net;

/// The sources a listener answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// The laptop itself: loopback or the listen address.
    Laptop(IpAddr),
    /// Containers on a bridge: any address inside the subnet but its network and broadcast
    /// addresses (the gateway, the laptop's own address on the bridge, included).
    Subnet(Ipv4Net),
}

impl Allowed {
    pub(crate) fn admits(self, src: IpAddr) -> bool {
        match self {
            Self::Laptop(listen) => src.is_loopback() || src == listen,
            Self::Subnet(net) => match src {
                IpAddr::V4(v4) => {
                    net.contains(&v4)
                        && (net.prefix_len() >= 31 || (v4 != net.network() && v4 != net.broadcast()))
                }
                // An IPv4-mapped IPv6 source (a dual-stack socket) is judged as its IPv4 address.
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| Self::Subnet(net).admits(IpAddr::V4(v4))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_listener_admits_its_subnet_only() {
        let a = Allowed::Subnet("172.17.0.0/16".parse().unwrap());
        assert!(a.admits("172.17.0.2".parse().unwrap()));
        assert!(a.admits("172.17.255.254".parse().unwrap()));
        assert!(a.admits("::ffff:172.17.0.3".parse().unwrap()));
        for outside in [
            "172.18.0.2",
            "127.0.0.1",
            "10.0.0.5",
            "192.168.1.10",
            "172.17.0.0",
            "172.17.255.255",
            "::1",
            "fd00::1",
        ] {
            assert!(!a.admits(outside.parse().unwrap()), "{outside} must be dropped");
        }
    }

    #[test]
    fn the_laptop_listener_admits_loopback_and_itself() {
        let a = Allowed::Laptop("10.4.0.9".parse().unwrap());
        assert!(a.admits("127.0.0.1".parse().unwrap()));
        assert!(a.admits("10.4.0.9".parse().unwrap()));
        assert!(!a.admits("10.4.0.8".parse().unwrap()));
        assert!(!a.admits("172.17.0.2".parse().unwrap()));
    }
}
