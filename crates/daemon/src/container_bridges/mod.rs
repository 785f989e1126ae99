//! Which of the laptop's interfaces are container bridges, whose containers the resolver also
//! answers (see `container_dns`). The rule, the same on every run:
//!
//! - a bridge (Linux: `/sys/class/net/<name>/bridge` exists), and
//! - named as Docker and Podman name theirs: `docker0` (Docker's default network), `br-` followed
//!   by 12 hex digits (a Docker user-defined network: the network id's first 12 digits),
//!   `podman<N>` (Podman 4+, netavark) or `cni-podman<N>` (Podman 3, CNI), and
//! - with an IPv4 address (not link-local): that address is the containers' gateway, its prefix
//!   their subnet.
//!
//! Docker's `com.docker.network.*` labels are not visible to the kernel, so names are what we go
//! by; a bridge of the user's own (`br0`, `virbr0`, `lxdbr0`) is never taken.

#[cfg(target_os = "linux")]
mod linux;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// A container bridge and the address the resolver listens on for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerBridge {
    pub name: String,
    /// The bridge's own address (the containers' gateway and DNS server).
    pub gateway: Ipv4Addr,
    /// The containers' subnet (the gateway's network).
    pub subnet: Ipv4Net,
}

/// Whether `name` is how Docker or Podman name their bridges.
#[must_use]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn is_container_bridge_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if name == "docker0" {
        return true;
    }
    if let Some(id) = name.strip_prefix("br-") {
        return id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(n) = name.strip_prefix("cni-podman") {
        return digits(n);
    }
    name.strip_prefix("podman").is_some_and(digits)
}

/// The container bridges there are now (none where they cannot be read, or on other systems).
#[must_use]
pub fn read() -> Vec<ContainerBridge> {
    #[cfg(target_os = "linux")]
    {
        linux::read()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// The bridges among `(name, is a bridge, IPv4 address with prefix)`: the rule above, pure.
#[must_use]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn select(interfaces: impl IntoIterator<Item = (String, bool, Ipv4Net)>) -> Vec<ContainerBridge> {
    let mut out: Vec<ContainerBridge> = interfaces
        .into_iter()
        .filter(|(name, bridge, net)| {
            *bridge
                && is_container_bridge_name(name)
                && !net.addr().is_link_local()
                && !net.addr().is_loopback()
                && !net.addr().is_unspecified()
                && net.prefix_len() < 32
        })
        .map(|(name, _, net)| ContainerBridge {
            name,
            gateway: net.addr(),
            subnet: net.trunc(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_and_podman_names_are_taken_and_the_users_own_bridges_are_not() {
        for name in [
            "docker0",
            "br-0123456789ab",
            "br-ABCDEF012345",
            "podman0",
            "podman12",
            "cni-podman0",
        ] {
            assert!(is_container_bridge_name(name), "{name}");
        }
        for name in [
            "br0",
            "br-lan",
            "br-0123456789abc",
            "virbr0",
            "lxdbr0",
            "docker1x",
            "podman",
            "cni-podman",
            "eth0",
            "wlan0",
            "kubewire0",
        ] {
            assert!(!is_container_bridge_name(name), "{name}");
        }
    }

    #[test]
    fn only_bridges_with_an_ipv4_address_are_selected() {
        let found = select([
            ("docker0".to_owned(), true, "172.17.0.1/16".parse().unwrap()),
            ("docker0".to_owned(), true, "169.254.3.1/16".parse().unwrap()),
            (
                "br-0123456789ab".to_owned(),
                false,
                "172.18.0.1/16".parse().unwrap(),
            ),
            ("br0".to_owned(), true, "192.168.1.2/24".parse().unwrap()),
            ("podman0".to_owned(), true, "10.88.0.1/32".parse().unwrap()),
            ("cni-podman0".to_owned(), true, "10.88.0.1/16".parse().unwrap()),
        ]);
        assert_eq!(
            found,
            vec![
                ContainerBridge {
                    name: "cni-podman0".into(),
                    gateway: "10.88.0.1".parse().unwrap(),
                    subnet: "10.88.0.0/16".parse().unwrap(),
                },
                ContainerBridge {
                    name: "docker0".into(),
                    gateway: "172.17.0.1".parse().unwrap(),
                    subnet: "172.17.0.0/16".parse().unwrap(),
                },
            ]
        );
    }
}
