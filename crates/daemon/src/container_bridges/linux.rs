//! Linux: the interfaces' IPv4 addresses from `getifaddrs`, and whether each is a bridge from
//! sysfs (`/sys/class/net/<name>/bridge`, the namespace's own under `ip netns exec`).

use std::path::Path;

use ipnet::Ipv4Net;

use super::{ContainerBridge, select};

pub fn read() -> Vec<ContainerBridge> {
    let addrs = match nix::ifaddrs::getifaddrs() {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the interfaces for container bridges");
            return Vec::new();
        }
    };
    let found = addrs.filter_map(|a| {
        if !super::is_container_bridge_name(&a.interface_name) {
            return None;
        }
        let ip = a.address.as_ref()?.as_sockaddr_in()?.ip();
        let mask = a.netmask.as_ref()?.as_sockaddr_in()?.ip();
        let net = Ipv4Net::with_netmask(ip, mask).ok()?;
        let bridge = Path::new("/sys/class/net")
            .join(&a.interface_name)
            .join("bridge")
            .is_dir();
        Some((a.interface_name, bridge, net))
    });
    select(found)
}
