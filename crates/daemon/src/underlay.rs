//! The laptop's own addresses on its links that are up (the underlay the tunnel's packets leave
//! by), to notice the moves that leave the networks as they were but break the tunnel: the laptop
//! roamed to a new address on the same network, or a link went down and came back. After such a
//! move, and after a resume, every peer's handshake starts over ([`renew`]): the backend may keep a
//! socket tied to an address the laptop no longer has, and a session that aged out while the
//! laptop slept would otherwise wait for the next timer.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use kubewire_core::network_event::NetworkEvent;

use crate::session::{Session, now_secs};

/// Addresses per interface that is up (loopback, link-local and the tunnel left out).
pub type Addresses = BTreeMap<String, BTreeSet<IpAddr>>;

/// Reads the addresses now (empty when they cannot be read).
#[cfg(unix)]
pub fn read(own_interface: Option<&str>) -> Addresses {
    use nix::net::if_::InterfaceFlags;
    let mut out = Addresses::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for a in addrs {
        let up = InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING;
        if !a.flags.contains(up)
            || a.flags.contains(InterfaceFlags::IFF_LOOPBACK)
            || Some(a.interface_name.as_str()) == own_interface
        {
            continue;
        }
        let ip = a.address.and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        let Some(ip) = ip else { continue };
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if !link_local {
            out.entry(a.interface_name).or_default().insert(ip);
        }
    }
    out
}

/// Other systems: not read yet (a resume still renews the handshakes).
#[cfg(not(unix))]
pub fn read(_own_interface: Option<&str>) -> Addresses {
    Addresses::new()
}

/// An address the laptop did not have before: the handshakes must start over from it.
#[must_use]
pub fn arrived(before: &Addresses, after: &Addresses) -> bool {
    after
        .iter()
        .any(|(name, now)| before.get(name).is_none_or(|was| !now.is_subset(was)))
}

/// What moved between two readings, in words; empty when nothing did.
#[must_use]
pub fn moves(before: &Addresses, after: &Addresses) -> Vec<String> {
    let list = |s: &BTreeSet<IpAddr>| s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    for (name, now) in after {
        match before.get(name) {
            None => out.push(format!("the underlay came back: {name} is up with {}", list(now))),
            Some(was) if was != now => out.push(format!(
                "the laptop's address on {name} is now {} (was {})",
                list(now),
                list(was)
            )),
            Some(_) => {}
        }
    }
    for (name, was) in before {
        if !after.contains_key(name) {
            out.push(format!("{name} went down (had {})", list(was)));
        }
    }
    out
}

/// Records `changes` for `status` (after any event this same change already recorded) and, when
/// `handshake` (a new address, a resume), starts every peer's handshake over.
pub async fn renew(session: &mut Session, mut changes: Vec<String>, merge: bool, handshake: bool) {
    let now = now_secs();
    let mut actions = Vec::new();
    if merge && let Some(e) = session.network_event.take() {
        changes.extend(e.changes);
        actions.extend(
            e.actions
                .into_iter()
                .filter(|a| a != "nothing to change in the tunnel"),
        );
    }
    let renewed = if handshake {
        session.tunnel.renew_peers().await.map(Some)
    } else {
        Ok(None)
    };
    match renewed {
        Ok(None) => {
            if actions.is_empty() {
                actions.push("nothing to change in the tunnel".into());
            }
        }
        Ok(Some(keys)) => {
            let live = session.tunnel.live();
            let routes: Vec<_> = live.routes.iter().copied().collect();
            let renewed = keys.iter().filter_map(|k| live.peers.get(k));
            crate::handshake_now::start(&crate::handshake_now::targets(renewed, &routes)).await;
            tracing::info!(peers = keys.len(), "handshakes started again");
            for key in &keys {
                session.peer_added_at.insert(*key, now);
            }
            actions.push(format!("handshakes started again with {} peers", keys.len()));
        }
        Err(e) => {
            tracing::warn!(error = %e, "starting the handshakes again failed");
            actions.push(format!("starting the handshakes again failed: {e}"));
        }
    }
    session.network_event = Some(NetworkEvent {
        at: now,
        changes,
        actions,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(pairs: &[(&str, &[&str])]) -> Addresses {
        pairs
            .iter()
            .map(|(n, ips)| ((*n).to_owned(), ips.iter().map(|i| i.parse().unwrap()).collect()))
            .collect()
    }

    #[test]
    fn a_roam_a_link_gone_and_a_link_back_are_told() {
        let home = at(&[("eth0", &["192.0.2.100"])]);
        let hotel = at(&[("eth0", &["192.0.2.150"])]);
        assert_eq!(
            moves(&home, &hotel),
            ["the laptop's address on eth0 is now 192.0.2.150 (was 192.0.2.100)"]
        );
        assert_eq!(
            moves(&home, &Addresses::new()),
            ["eth0 went down (had 192.0.2.100)"]
        );
        assert_eq!(
            moves(&Addresses::new(), &home),
            ["the underlay came back: eth0 is up with 192.0.2.100"]
        );
        assert!(moves(&home, &home).is_empty());
        assert!(arrived(&home, &hotel) && arrived(&Addresses::new(), &home));
        assert!(!arrived(&home, &Addresses::new()) && !arrived(&home, &home));
    }
}
