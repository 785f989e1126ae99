//! The user's "route the cluster anyway" choice (`connect --prefer-tunnel CIDR`): by default a local
//! network wins every cluster range it overlaps ([`crate::lan_yield`]); inside a preferred range the
//! tunnel wins instead. Done by carving the preferred ranges out of the local networks before the
//! overlap rules run (planner, yield and the daemon's policy alike), so that only what the user named
//! changes hands: a preferred `10.42.3.0/24` inside an office's `10.0.0.0/8` leaves the rest of that
//! /8 to the LAN. A preferred range must itself be one the policy could route (private-use or allowed,
//! no broader than /8, never loopback, link-local or multicast).

use ipnet::IpNet;

use crate::cidr::overlaps;
use crate::lan_yield::LocalNetwork;
use crate::policy::refusal_reason_allowing;

/// Why a preferred range is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--prefer-tunnel {range}: {reason}")]
pub struct PreferTunnelError {
    /// The range.
    pub range: IpNet,
    /// Why (the policy's words).
    pub reason: String,
}

/// Checks the preferred ranges against the routing rules (no local networks: overlapping one is the
/// point).
pub fn check(prefer: &[IpNet], allowed_public: &[IpNet]) -> Result<(), PreferTunnelError> {
    for range in prefer {
        if let Some(reason) = refusal_reason_allowing(range, &[], allowed_public) {
            return Err(PreferTunnelError {
                range: *range,
                reason: reason.to_string(),
            });
        }
    }
    Ok(())
}

/// `local` with the `prefer`red ranges carved out: what is left of each network, as CIDRs.
#[must_use]
pub fn carve(local: &[LocalNetwork], prefer: &[IpNet]) -> Vec<LocalNetwork> {
    if prefer.is_empty() {
        return local.to_vec();
    }
    local
        .iter()
        .flat_map(|l| {
            carve_net(l.net.trunc(), prefer)
                .into_iter()
                .map(|net| LocalNetwork {
                    net,
                    interface: l.interface.clone(),
                })
        })
        .collect()
}

/// [`carve`] for bare ranges.
#[must_use]
pub fn carve_nets(local: &[IpNet], prefer: &[IpNet]) -> Vec<IpNet> {
    if prefer.is_empty() {
        return local.to_vec();
    }
    local.iter().flat_map(|l| carve_net(l.trunc(), prefer)).collect()
}

fn carve_net(net: IpNet, prefer: &[IpNet]) -> Vec<IpNet> {
    let mut pieces = vec![net];
    for p in prefer {
        pieces = pieces.into_iter().flat_map(|piece| subtract(piece, p)).collect();
    }
    pieces
}

/// The kernel routes for the tunnel's `routes` when some of them are preferred over local networks:
/// a preferred route that a local network lies inside (or equals) would lose to that network's
/// more specific route, or, at the same prefix, replace the LAN's own route (and take it away for
/// good on disconnect). Such a route is split so that every piece is more specific than the LAN's:
/// the route less the network, and the network's two halves. WireGuard's AllowedIPs do not change.
#[must_use]
pub fn kernel_routes(routes: &[IpNet], local: &[IpNet], prefer: &[IpNet]) -> Vec<IpNet> {
    if prefer.is_empty() {
        return routes.to_vec();
    }
    let mut out = Vec::new();
    for route in routes {
        let preferred = prefer.iter().any(|p| overlaps(p, route));
        let inside: Vec<IpNet> = local
            .iter()
            .map(IpNet::trunc)
            .filter(|l| preferred && overlaps(l, route) && l.prefix_len() >= route.prefix_len())
            .filter(|l| l.prefix_len() < l.max_prefix_len())
            .collect();
        if inside.is_empty() {
            out.push(*route);
            continue;
        }
        out.extend(carve_net(*route, &inside));
        for l in &inside {
            if let Ok(halves) = l.subnets(l.prefix_len() + 1) {
                out.extend(halves.filter(|h| route.contains(h)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `a` less `b`, as CIDRs (at most one per bit between their prefixes).
fn subtract(a: IpNet, b: &IpNet) -> Vec<IpNet> {
    if !overlaps(&a, b) {
        return vec![a];
    }
    if b.contains(&a) {
        return Vec::new();
    }
    // `a` contains `b`: keep the half without `b`, split the other.
    let Ok(halves) = a.subnets(a.prefix_len() + 1) else {
        return Vec::new();
    };
    halves.flat_map(|h| subtract(h, b)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn carving_leaves_the_rest_of_the_network() {
        assert_eq!(
            carve_nets(&nets(&["10.42.0.0/22"]), &nets(&["10.42.3.0/24"])),
            nets(&["10.42.0.0/23", "10.42.2.0/24"])
        );
        assert_eq!(
            carve_nets(&nets(&["10.42.3.0/24"]), &nets(&["10.42.0.0/16"])),
            nets(&[])
        );
        assert_eq!(
            carve_nets(&nets(&["192.168.1.0/24"]), &nets(&["10.42.3.0/24"])),
            nets(&["192.168.1.0/24"])
        );
        let office = carve_nets(&nets(&["10.0.0.0/8"]), &nets(&["10.42.3.0/24"]));
        assert_eq!(office.len(), 16);
        assert!(
            office
                .iter()
                .all(|p| !overlaps(p, &"10.42.3.0/24".parse().unwrap()))
        );
        assert!(
            office
                .iter()
                .any(|p| p.contains(&"10.1.0.0/16".parse::<IpNet>().unwrap()))
        );
    }

    #[test]
    fn a_preferred_route_is_split_around_the_lan_it_beats() {
        let routes = nets(&["10.42.2.0/24", "10.42.3.0/24", "10.43.0.0/16"]);
        // The LAN on exactly a preferred /24: two /25s beat its /24 and leave its route alone.
        assert_eq!(
            kernel_routes(&routes, &nets(&["10.42.2.250/24"]), &nets(&["10.42.2.0/24"])),
            nets(&["10.42.2.0/25", "10.42.2.128/25", "10.42.3.0/24", "10.43.0.0/16"])
        );
        // A /26 inside the preferred service /16: the rest of the /16, and the /26's halves.
        let split = kernel_routes(&routes, &nets(&["10.43.5.0/26"]), &nets(&["10.43.0.0/16"]));
        assert!(split.contains(&"10.43.5.0/27".parse().unwrap()));
        assert!(split.contains(&"10.43.5.32/27".parse().unwrap()));
        assert!(!split.contains(&"10.43.0.0/16".parse().unwrap()));
        assert!(
            !split
                .iter()
                .any(|r| *r == "10.43.5.0/26".parse::<IpNet>().unwrap())
        );
        // Not preferred, or no LAN: unchanged.
        assert_eq!(kernel_routes(&routes, &nets(&["10.42.2.0/24"]), &[]), routes);
        assert_eq!(kernel_routes(&routes, &[], &nets(&["10.42.2.0/24"])), routes);
    }

    #[test]
    fn a_preferred_range_must_be_routable() {
        assert!(check(&nets(&["10.42.3.0/24"]), &[]).is_ok());
        let e = check(&nets(&["0.0.0.0/0"]), &[]).unwrap_err();
        assert!(e.to_string().starts_with("--prefer-tunnel 0.0.0.0/0:"), "{e}");
        assert!(check(&nets(&["8.8.8.0/24"]), &[]).is_err());
        assert!(check(&nets(&["127.0.0.0/8"]), &[]).is_err());
    }
}
