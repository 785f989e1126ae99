//! What the last network change was and what kubewire did about it, in words (`kubewire status` and
//! the tray show it): the laptop's networks that appeared or went, and the ranges withdrawn from or
//! returned to the tunnel, the MTU that moved. Pure: the daemon passes the before and after.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lan_yield::{LocalNetwork, Withdrawn};
use crate::mtu::TunnelMtu;

/// The last network change the daemon followed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEvent {
    /// Unix seconds.
    pub at: u64,
    /// What changed ("10.42.3.0/24 on wlan0 appeared").
    pub changes: Vec<String>,
    /// What kubewire did ("10.42.3.0/24 (aws) withdrawn from the tunnel…"); never empty.
    pub actions: Vec<String>,
}

impl NetworkEvent {
    /// The event between two readings of the networks, and the session's withdrawn ranges and MTU
    /// before and after it was followed.
    #[must_use]
    pub fn new(
        at: u64,
        networks: (&[LocalNetwork], &[LocalNetwork]),
        withdrawn: (&[Withdrawn], &[Withdrawn]),
        mtu: (TunnelMtu, TunnelMtu),
    ) -> Self {
        // Link-local ranges come and go with every link: not news.
        let news = |l: &&LocalNetwork| match l.net {
            ipnet::IpNet::V4(n) => !n.addr().is_link_local(),
            ipnet::IpNet::V6(n) => (n.addr().segments()[0] & 0xffc0) != 0xfe80,
        };
        let (before, after) = networks;
        let named = |l: &LocalNetwork| match &l.interface {
            Some(i) => format!("{} on {i}", l.net),
            None => l.net.to_string(),
        };
        let mut changes: Vec<String> = after
            .iter()
            .filter(news)
            .filter(|l| !before.contains(l))
            .map(|l| format!("{} appeared", named(l)))
            .collect();
        changes.extend(
            before
                .iter()
                .filter(news)
                .filter(|l| !after.contains(l))
                .map(|l| format!("{} went away", named(l))),
        );
        if changes.is_empty() {
            changes.push("a link changed (no network appeared or went)".into());
        }
        let (was, now) = withdrawn;
        let mut actions: Vec<String> = now
            .iter()
            .filter(|w| !was.iter().any(|o| o.range == w.range))
            .map(|w| {
                let on = w
                    .interface
                    .as_ref()
                    .map(|i| format!(" on {i}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}) withdrawn from the tunnel: the local network {}{on} wins",
                    w.range, w.peer, w.local
                )
            })
            .collect();
        actions.extend(
            was.iter()
                .filter(|o| !now.iter().any(|w| w.range == o.range))
                .map(|o| format!("{} ({}) routed into the tunnel again", o.range, o.peer)),
        );
        let (mtu_was, mtu_now) = mtu;
        if mtu_was.mtu != mtu_now.mtu {
            actions.push(format!("tunnel MTU {} → {mtu_now}", mtu_was.mtu));
        }
        if actions.is_empty() {
            actions.push("nothing to change in the tunnel".into());
        }
        Self { at, changes, actions }
    }
}

impl fmt::Display for NetworkEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.changes.join("; "), self.actions.join("; "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mtu::MtuSource;

    fn lan(net: &str, i: &str) -> LocalNetwork {
        LocalNetwork {
            net: net.parse().unwrap(),
            interface: Some(i.into()),
        }
    }

    fn mtu(m: u16) -> TunnelMtu {
        TunnelMtu {
            mtu: m,
            source: MtuSource::Underlay { underlay: m + 80 },
        }
    }

    #[test]
    fn a_lan_that_takes_a_range_and_moves_the_mtu() {
        let home = lan("192.168.1.0/24", "wlan0");
        let hotel = lan("10.42.3.0/24", "wlan0");
        let w = Withdrawn {
            range: "10.42.3.0/24".parse().unwrap(),
            peer: "aws".into(),
            local: "10.42.3.0/24".parse().unwrap(),
            interface: Some("wlan0".into()),
        };
        let e = NetworkEvent::new(
            7,
            (
                std::slice::from_ref(&home),
                &[hotel.clone(), lan("fe80::/64", "wlan0")],
            ),
            (&[], std::slice::from_ref(&w)),
            (mtu(1420), mtu(1320)),
        );
        assert_eq!(
            e.to_string(),
            "10.42.3.0/24 on wlan0 appeared; 192.168.1.0/24 on wlan0 went away → 10.42.3.0/24 (aws) withdrawn \
             from the tunnel: the local network 10.42.3.0/24 on wlan0 wins; tunnel MTU 1420 → 1320 (the \
             underlay's 1400 less 80)"
        );
        let back = NetworkEvent::new(9, (&[hotel], &[home]), (&[w], &[]), (mtu(1320), mtu(1320)));
        assert_eq!(back.actions, ["10.42.3.0/24 (aws) routed into the tunnel again"]);
    }

    #[test]
    fn a_change_that_touches_nothing_says_so() {
        let e = NetworkEvent::new(1, (&[], &[]), (&[], &[]), (mtu(1420), mtu(1420)));
        assert_eq!(
            e.to_string(),
            "a link changed (no network appeared or went) → nothing to change in the tunnel"
        );
    }
}
