//! The laptop's tunnel address. The cluster chooses it (the laptop's own Peer's allowedIPs, or the
//! Kilo subnet a leader announces), so a hostile cluster could hand out the user's router
//! (`192.168.1.1`) or a public address (`8.8.8.8`), which the interface would then claim and, with
//! systemd-resolved, the resolver would bind. The address must be a single private-use address, outside
//! every network of this machine, and inside the Kilo subnet when the cluster announced one.

use std::net::IpAddr;

use ipnet::IpNet;

use super::scope::{PRIVATE_USE_TEXT, is_private_use};
use crate::cidr::one_address;
use crate::policy::broadest_prefix;

/// Why the laptop's address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// A range instead of one address.
    #[error("the laptop address {0} is not a single address (/32 or /128)")]
    NotSingle(IpNet),
    /// Not in a private-use range.
    #[error(
        "the laptop address {0} is not a private-use address ({PRIVATE_USE_TEXT}): the tunnel would claim \
         an address of the internet"
    )]
    NotPrivateUse(IpAddr),
    /// Inside one of this machine's networks.
    #[error(
        "the laptop address {address} is inside this machine's network {network}: the tunnel would take an \
         address of the local network"
    )]
    InLocalNetwork {
        /// The address.
        address: IpAddr,
        /// The local network.
        network: IpNet,
    },
    /// Outside the Kilo subnet the cluster announced.
    #[error("the laptop address {address} is outside the cluster's Kilo subnet {subnet}")]
    OutsideSubnet {
        /// The address.
        address: IpAddr,
        /// The Kilo subnet.
        subnet: IpNet,
    },
}

/// Checks the laptop's address against this machine's `local_networks` (networks broader than /8,
/// the default route, do not count) and the Kilo subnet when one is known.
pub fn check_address(
    address: &IpNet,
    local_networks: &[IpNet],
    kilo_subnet: Option<&IpNet>,
) -> Result<(), AddressError> {
    if address.prefix_len() != address.max_prefix_len() {
        return Err(AddressError::NotSingle(*address));
    }
    let ip = address.addr();
    if !is_private_use(&one_address(ip)) {
        return Err(AddressError::NotPrivateUse(ip));
    }
    if let Some(network) = local_networks
        .iter()
        .filter(|n| n.prefix_len() >= broadest_prefix(n))
        .find(|n| n.contains(&ip))
    {
        return Err(AddressError::InLocalNetwork {
            address: ip,
            network: network.trunc(),
        });
    }
    if let Some(subnet) = kilo_subnet
        && !subnet.contains(&ip)
    {
        return Err(AddressError::OutsideSubnet {
            address: ip,
            subnet: subnet.trunc(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn the_users_router_on_the_lan_is_refused() {
        let lan = [net("0.0.0.0/0"), net("192.168.1.0/24")];
        let e = check_address(&net("192.168.1.1/32"), &lan, None).unwrap_err();
        assert_eq!(
            e,
            AddressError::InLocalNetwork {
                address: "192.168.1.1".parse().unwrap(),
                network: net("192.168.1.0/24")
            }
        );
        assert!(e.to_string().contains("192.168.1.1"), "{e}");
        // The default route alone does not make every address local.
        assert!(check_address(&net("10.4.200.1/32"), &lan, Some(&net("10.4.0.0/16"))).is_ok());
    }

    #[test]
    fn a_public_address_is_refused() {
        let e = check_address(&net("8.8.8.8/32"), &[], None).unwrap_err();
        assert_eq!(e, AddressError::NotPrivateUse("8.8.8.8".parse().unwrap()));
        assert!(
            e.to_string().contains("8.8.8.8 is not a private-use address"),
            "{e}"
        );
        assert!(check_address(&net("2001:db8::1/128"), &[], None).is_err());
        assert!(check_address(&net("fd00::5/128"), &[], None).is_ok());
        assert!(check_address(&net("100.64.1.1/32"), &[], None).is_ok());
    }

    #[test]
    fn outside_the_known_kilo_subnet_is_refused() {
        let subnet = net("10.4.0.0/16");
        let e = check_address(&net("10.5.0.1/32"), &[], Some(&subnet)).unwrap_err();
        assert!(
            e.to_string()
                .contains("10.5.0.1 is outside the cluster's Kilo subnet 10.4.0.0/16"),
            "{e}"
        );
        assert!(check_address(&net("10.5.0.1/32"), &[], None).is_ok());
        assert!(matches!(
            check_address(&net("10.4.0.0/24"), &[], Some(&subnet)),
            Err(AddressError::NotSingle(_))
        ));
    }
}
