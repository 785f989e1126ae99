//! The LAN wins, per range: when the laptop joins a network that overlaps a range of the Plan (a
//! hotel LAN on `10.42.3.0/24`, a VPN pushing `10.43.0.0/16`), exactly the overlapping ranges leave
//! the tunnel, the rest of the Plan stays, and the ranges come back when the overlap goes. The daemon
//! runs this on every network change and on every Plan it receives, against the requested Plan, so
//! that a withdrawn range returns by itself.

use std::fmt;

use ipnet::IpNet;

use crate::cidr::overlaps;
use crate::plan::Plan;
use crate::policy::{broadest_prefix, refusal_reason_allowing, routes};

/// A range of the Plan left out because a local network overlaps it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Withdrawn {
    /// The Plan's range.
    pub range: IpNet,
    /// The peer entry it belonged to.
    pub peer: String,
    /// The local network that overlaps it.
    pub local: IpNet,
    /// The interface of that network, when known.
    pub interface: Option<String>,
}

impl fmt::Display for Withdrawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) is not routed into the tunnel: it overlaps the local network {}",
            self.range, self.peer, self.local
        )?;
        if let Some(interface) = &self.interface {
            write!(f, " on {interface}")?;
        }
        write!(
            f,
            "; the local network wins until it goes away (to route it anyway: kubewire connect --prefer-tunnel {})",
            self.range
        )
    }
}

/// A network of the laptop: its range and the interface it is on (when known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalNetwork {
    pub net: IpNet,
    pub interface: Option<String>,
}

/// `plan` without the ranges a local network overlaps, and what was left out (sorted). Local
/// networks broader than the broadest allowed prefix (a default route, a full-tunnel VPN's halves)
/// do not count, as in the policy. A range the policy refuses on its own (a default route, too
/// broad, loopback...) is never withdrawn here: it stays for the policy to refuse, so that a hostile
/// range is not passed off as a LAN overlap. Nothing else of the Plan changes.
#[must_use]
pub fn yield_to_local(plan: &Plan, local: &[LocalNetwork]) -> (Plan, Vec<Withdrawn>) {
    // Inside a range the user prefers (`--prefer-tunnel`), the tunnel wins.
    let local = crate::prefer_tunnel::carve(local, &plan.policy.prefer_tunnel);
    let local: Vec<&LocalNetwork> = local
        .iter()
        .filter(|l| l.net.prefix_len() >= broadest_prefix(&l.net))
        .collect();
    let mut out = plan.clone();
    let mut withdrawn = Vec::new();
    if local.is_empty() {
        return (out, withdrawn);
    }
    let allowed = &plan.policy.allowed_public_ranges;
    for peer in &mut out.peers {
        peer.allowed_ips
            .retain(|range| match local.iter().find(|l| overlaps(range, &l.net)) {
                _ if refusal_reason_allowing(range, &[], allowed).is_some() => true,
                Some(l) => {
                    withdrawn.push(Withdrawn {
                        range: *range,
                        peer: peer.name.clone(),
                        local: l.net.trunc(),
                        interface: l.interface.clone(),
                    });
                    false
                }
                None => true,
            });
    }
    if !withdrawn.is_empty() {
        out.routes = routes(&out.peers);
    }
    withdrawn.sort();
    (out, withdrawn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn lan(s: &str, dev: &str) -> LocalNetwork {
        LocalNetwork {
            net: net(s),
            interface: Some(dev.into()),
        }
    }

    /// The seed's four clouds, planned.
    fn plan() -> Plan {
        let snapshot = crate::Snapshot::parse(include_str!("../tests/fixtures/seed-cluster.yaml")).unwrap();
        let mut request =
            crate::PlanRequest::new("AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap());
        request.address = Some(net("10.4.255.5/32"));
        request.settings.service_cidrs = vec![net("10.43.0.0/16")];
        let plan = crate::plan(&snapshot, &request, 1_800_000_010).unwrap();
        assert!(plan.peers.len() >= 2 && plan.peers[1].allowed_ips.len() >= 2);
        plan
    }

    #[test]
    fn exactly_the_overlapping_ranges_leave_and_the_rest_stays() {
        let full = plan();
        let target = full.peers[1].allowed_ips[0];
        let (out, withdrawn) = yield_to_local(&full, &[lan(&target.to_string(), "wlan0")]);
        assert_eq!(
            withdrawn,
            vec![Withdrawn {
                range: target,
                peer: full.peers[1].name.clone(),
                local: target.trunc(),
                interface: Some("wlan0".into()),
            }]
        );
        assert_eq!(out.peers[1].allowed_ips, full.peers[1].allowed_ips[1..]);
        assert_eq!(out.peers[0].allowed_ips, full.peers[0].allowed_ips);
        assert!(!out.routes.contains(&target));
        assert_eq!(out.routes.len(), full.routes.len() - 1);
        assert_eq!(out.dns, full.dns);
        let said = withdrawn[0].to_string();
        assert!(
            said.contains(&target.to_string()) && said.contains("wlan0"),
            "{said}"
        );
    }

    #[test]
    fn a_preferred_range_stays_in_the_tunnel_and_the_policy_routes_it() {
        let mut full = plan();
        let target = full.peers[1].allowed_ips[0];
        let other = full.peers[0].allowed_ips[0];
        full.policy.prefer_tunnel = vec![target];
        let lans = [lan(&target.to_string(), "wlan0"), lan(&other.to_string(), "eth1")];
        let (out, withdrawn) = yield_to_local(&full, &lans);
        assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
        assert_eq!(withdrawn[0].range, other, "only the range not preferred yields");
        assert!(out.routes.contains(&target));
        // The daemon's policy lets the preferred range over the LAN, not the other one.
        let nets: Vec<IpNet> = lans.iter().map(|l| l.net).collect();
        let checked = crate::policy::enforce(out, &nets).unwrap();
        assert!(checked.routes.contains(&target));
        assert!(checked.refused.is_empty(), "{:?}", checked.refused);
    }

    #[test]
    fn a_lan_inside_a_range_withdraws_the_whole_range() {
        // A /17 VPN route inside the service range; a /28 inside a node's /24.
        let full = plan();
        let service = net("10.43.0.0/16");
        assert!(full.routes.contains(&service));
        let pod = *full.routes.iter().find(|r| r.prefix_len() == 24).unwrap();
        let inside: IpNet = IpNet::new(pod.network(), 28).unwrap();
        let (_, w) = yield_to_local(
            &full,
            &[lan("10.43.128.0/17", "vpn0"), lan(&inside.to_string(), "eth1")],
        );
        let mut ranges: Vec<IpNet> = w.iter().map(|w| w.range).collect();
        ranges.sort();
        let mut want = vec![pod, service];
        want.sort();
        assert_eq!(ranges, want);
    }

    #[test]
    fn default_routes_and_full_tunnel_halves_do_not_count() {
        let (out, w) = yield_to_local(
            &plan(),
            &[
                lan("0.0.0.0/1", "vpn0"),
                lan("128.0.0.0/1", "vpn0"),
                lan("10.0.0.0/7", "x"),
            ],
        );
        assert!(w.is_empty());
        assert_eq!(out, plan());
    }

    #[test]
    fn a_range_the_policy_refuses_on_its_own_is_left_for_the_policy() {
        let mut hostile = plan();
        hostile.peers[0].allowed_ips.push(net("0.0.0.0/0"));
        hostile.peers[0].allowed_ips.push(net("127.0.0.0/8"));
        let (out, w) = yield_to_local(
            &hostile,
            &[lan("192.168.1.0/24", "wlan0"), lan("127.0.0.0/8", "lo")],
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(out.peers[0].allowed_ips, hostile.peers[0].allowed_ips);
    }

    #[test]
    fn the_plan_comes_back_whole_when_the_lan_goes() {
        let target = plan().peers[1].allowed_ips[0];
        let (_, w) = yield_to_local(&plan(), &[lan(&target.to_string(), "wlan0")]);
        assert_eq!(w.len(), 1);
        let (out, w) = yield_to_local(&plan(), &[lan("192.168.1.0/24", "wlan0")]);
        assert!(w.is_empty());
        assert_eq!(out, plan());
    }
}
