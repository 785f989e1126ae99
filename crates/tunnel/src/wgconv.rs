//! Conversions between our types and `defguard_wireguard_rs`'s, shared by every OS's backend.

use defguard_wireguard_rs::error::WireguardInterfaceError;
use defguard_wireguard_rs::host::Host;
use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::net::IpAddrMask;
use defguard_wireguard_rs::peer::Peer;
use ipnet::IpNet;
use kubewire_core::PublicKey;

use crate::{PeerSpec, PeerStats, TunnelError};

/// Maps a backend error to ours, saying what we were doing.
pub(crate) fn backend_error(what: &'static str) -> impl FnOnce(WireguardInterfaceError) -> TunnelError {
    move |e| TunnelError::Backend {
        what,
        message: e.to_string(),
    }
}

pub(crate) fn mask(net: &IpNet) -> IpAddrMask {
    IpAddrMask::new(net.addr(), net.prefix_len())
}

pub(crate) fn key(key: &PublicKey) -> Key {
    Key::new(*key.as_bytes())
}

/// The backend's peer for a spec: keepalive only when set.
pub(crate) fn to_peer(spec: &PeerSpec) -> Peer {
    let mut peer = Peer::new(key(&spec.public_key));
    peer.endpoint = spec.endpoint;
    peer.persistent_keepalive_interval =
        (spec.persistent_keepalive != 0).then_some(spec.persistent_keepalive);
    peer.allowed_ips = spec.allowed_ips.iter().map(mask).collect();
    peer
}

/// Per-peer statistics of an interface's data; a handshake at the epoch means none yet.
pub(crate) fn peer_stats(host: &Host) -> Vec<PeerStats> {
    host.peers
        .values()
        .map(|p| PeerStats {
            public_key: PublicKey::from_bytes(p.public_key.as_array()),
            endpoint: p.endpoint,
            last_handshake: p
                .last_handshake
                .map(kubewire_core::time::unix_secs)
                .filter(|secs| *secs > 0),
            rx_bytes: p.rx_bytes,
            tx_bytes: p.tx_bytes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn peers_carry_keepalive_only_when_set() {
        let spec = PeerSpec::new(
            PublicKey::from_bytes([3; 32]),
            None,
            ["10.42.0.0/24".parse().unwrap()],
            0,
        );
        assert_eq!(to_peer(&spec).persistent_keepalive_interval, None);
        let spec = PeerSpec::new(PublicKey::from_bytes([3; 32]), None, [], 25);
        assert_eq!(to_peer(&spec).persistent_keepalive_interval, Some(25));
    }

    #[test]
    fn a_handshake_at_the_epoch_is_none() {
        let mut host = Host::default();
        let mut peer = Peer::new(Key::new([4; 32]));
        peer.last_handshake = Some(UNIX_EPOCH);
        host.peers.insert(peer.public_key.clone(), peer);
        assert_eq!(peer_stats(&host)[0].last_handshake, None);
    }
}
