//! The pure difference between what the interface has and what a Plan wants, as ordered operations.
//!
//! Peers are keyed by public key. A peer whose endpoint, AllowedIPs, keepalive or preshared key changed is removed
//! and added again, never updated in place: BoringTun panics on an in-place change of a known key and
//! the interface is wedged for good. Order: changed peers (remove, then add, back to back so their
//! gap is shortest), removed peers, new peers, then removed routes, then new routes. Peers go before
//! routes so a removed range is dropped by the interface instead of leaking to the default route
//! while it is being removed, and a new route only appears once its peer is there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use ipnet::IpNet;
use kubewire_core::{PresharedKey, PublicKey};

/// One peer as the interface should have it (endpoint already resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    /// Kept sorted and deduplicated by [`PeerSpec::new`], so equal sets compare equal.
    pub allowed_ips: Vec<IpNet>,
    /// Seconds, 0 = off.
    pub persistent_keepalive: u16,
    /// The preshared key shared with this peer (`Debug` redacts it); a change re-adds the peer.
    pub preshared_key: Option<PresharedKey>,
}

impl PeerSpec {
    #[must_use]
    pub fn new(
        public_key: PublicKey,
        endpoint: Option<SocketAddr>,
        allowed_ips: impl IntoIterator<Item = IpNet>,
        persistent_keepalive: u16,
    ) -> Self {
        let allowed_ips: BTreeSet<IpNet> = allowed_ips.into_iter().map(|n| n.trunc()).collect();
        Self {
            public_key,
            endpoint,
            allowed_ips: allowed_ips.into_iter().collect(),
            persistent_keepalive,
            preshared_key: None,
        }
    }

    /// The same peer with this preshared key.
    #[must_use]
    pub fn with_preshared_key(mut self, key: Option<PresharedKey>) -> Self {
        self.preshared_key = key;
        self
    }
}

/// Peers and routes: what is live, or what is wanted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub peers: BTreeMap<PublicKey, PeerSpec>,
    pub routes: BTreeSet<IpNet>,
}

impl Config {
    #[must_use]
    pub fn new(peers: impl IntoIterator<Item = PeerSpec>, routes: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            peers: peers.into_iter().map(|p| (p.public_key, p)).collect(),
            routes: routes.into_iter().map(|n| n.trunc()).collect(),
        }
    }
}

/// One step towards the desired configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    RemovePeer(PublicKey),
    AddPeer(PeerSpec),
    RemoveRoutes(Vec<IpNet>),
    AddRoutes(Vec<IpNet>),
}

/// The operations that turn `current` into `desired`, in the order they must run.
#[must_use]
pub fn diff(current: &Config, desired: &Config) -> Vec<Op> {
    let mut ops = Vec::new();
    // Changed peers: remove + add, back to back.
    for (key, want) in &desired.peers {
        if let Some(have) = current.peers.get(key)
            && have != want
        {
            ops.push(Op::RemovePeer(*key));
            ops.push(Op::AddPeer(want.clone()));
        }
    }
    for key in current.peers.keys() {
        if !desired.peers.contains_key(key) {
            ops.push(Op::RemovePeer(*key));
        }
    }
    for (key, want) in &desired.peers {
        if !current.peers.contains_key(key) {
            ops.push(Op::AddPeer(want.clone()));
        }
    }
    let gone: Vec<IpNet> = current.routes.difference(&desired.routes).copied().collect();
    if !gone.is_empty() {
        ops.push(Op::RemoveRoutes(gone));
    }
    let new: Vec<IpNet> = desired.routes.difference(&current.routes).copied().collect();
    if !new.is_empty() {
        ops.push(Op::AddRoutes(new));
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn peer(n: u8, endpoint: &str, ips: &[&str]) -> PeerSpec {
        PeerSpec::new(
            key(n),
            Some(endpoint.parse().unwrap()),
            ips.iter().map(|s| net(s)),
            25,
        )
    }
    fn config(peers: &[PeerSpec]) -> Config {
        Config::new(peers.to_vec(), peers.iter().flat_map(|p| p.allowed_ips.clone()))
    }

    #[test]
    fn nothing_to_do_when_equal_even_if_allowed_ips_are_reordered() {
        let a = config(&[peer(1, "192.0.2.1:51820", &["10.42.0.0/24", "10.4.0.1/32"])]);
        let b = config(&[peer(1, "192.0.2.1:51820", &["10.4.0.1/32", "10.42.0.0/24"])]);
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn from_nothing_adds_peers_then_routes() {
        let want = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24"]),
            peer(2, "192.0.2.2:51820", &["10.42.1.0/24"]),
        ]);
        let ops = diff(&Config::default(), &want);
        assert_eq!(
            ops,
            vec![
                Op::AddPeer(want.peers[&key(1)].clone()),
                Op::AddPeer(want.peers[&key(2)].clone()),
                Op::AddRoutes(vec![net("10.42.0.0/24"), net("10.42.1.0/24")]),
            ]
        );
    }

    #[test]
    fn a_changed_endpoint_is_remove_then_add_and_touches_nothing_else() {
        let old = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24"]),
            peer(2, "192.0.2.2:51820", &["10.42.1.0/24"]),
        ]);
        let new = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24"]),
            peer(2, "192.0.2.9:51820", &["10.42.1.0/24"]),
        ]);
        assert_eq!(
            diff(&old, &new),
            vec![Op::RemovePeer(key(2)), Op::AddPeer(new.peers[&key(2)].clone())]
        );
    }

    #[test]
    fn a_changed_keepalive_or_range_is_a_change_too() {
        let old = config(&[peer(1, "192.0.2.1:51820", &["10.42.0.0/24"])]);
        let mut ka = old.clone();
        ka.peers.get_mut(&key(1)).unwrap().persistent_keepalive = 0;
        assert_eq!(diff(&old, &ka).len(), 2);
        let grown = config(&[peer(1, "192.0.2.1:51820", &["10.42.0.0/24", "10.43.0.0/16"])]);
        assert_eq!(
            diff(&old, &grown),
            vec![
                Op::RemovePeer(key(1)),
                Op::AddPeer(grown.peers[&key(1)].clone()),
                Op::AddRoutes(vec![net("10.43.0.0/16")]),
            ]
        );
    }

    #[test]
    fn a_removed_peer_goes_before_its_routes() {
        let old = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24"]),
            peer(2, "192.0.2.2:51820", &["10.42.1.0/24"]),
        ]);
        let new = config(&[peer(1, "192.0.2.1:51820", &["10.42.0.0/24"])]);
        assert_eq!(
            diff(&old, &new),
            vec![
                Op::RemovePeer(key(2)),
                Op::RemoveRoutes(vec![net("10.42.1.0/24")])
            ]
        );
    }

    #[test]
    fn a_key_rotation_is_a_removed_and_a_new_peer() {
        let old = config(&[peer(1, "192.0.2.1:51820", &["10.42.0.0/24"])]);
        let new = config(&[peer(7, "192.0.2.1:51820", &["10.42.0.0/24"])]);
        assert_eq!(
            diff(&old, &new),
            vec![Op::RemovePeer(key(1)), Op::AddPeer(new.peers[&key(7)].clone())]
        );
    }

    #[test]
    fn applying_the_ops_to_a_model_reaches_the_desired_config() {
        // A small model: apply ops to a Config and compare; no key is ever added while present.
        let old = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24"]),
            peer(2, "192.0.2.2:51820", &["10.42.1.0/24"]),
            peer(3, "192.0.2.3:51820", &["10.42.2.0/24"]),
        ]);
        let new = config(&[
            peer(1, "192.0.2.1:51820", &["10.42.0.0/24", "10.43.0.0/16"]),
            peer(3, "192.0.2.33:51820", &["10.42.2.0/24"]),
            peer(4, "192.0.2.4:51820", &["10.42.3.0/24"]),
        ]);
        let mut model = old.clone();
        for op in diff(&old, &new) {
            match op {
                Op::RemovePeer(k) => assert!(model.peers.remove(&k).is_some(), "removed an absent peer"),
                Op::AddPeer(p) => assert!(
                    model.peers.insert(p.public_key, p).is_none(),
                    "configure_peer on an existing key"
                ),
                Op::RemoveRoutes(r) => r.iter().for_each(|n| assert!(model.routes.remove(n))),
                Op::AddRoutes(r) => r.iter().for_each(|n| assert!(model.routes.insert(*n))),
            }
        }
        assert_eq!(model, new);
    }
}
