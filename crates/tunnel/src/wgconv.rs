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

/// The backend's peer for a spec: keepalive and preshared key only when set (both backends take the
/// preshared key: netlink for the kernel, UAPI for BoringTun).
pub(crate) fn to_peer(spec: &PeerSpec) -> Peer {
    let mut peer = Peer::new(key(&spec.public_key));
    peer.preshared_key = spec.preshared_key.as_ref().map(|k| Key::new(*k.as_bytes()));
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
    fn the_preshared_key_reaches_the_backends_peer_and_no_debug_output() {
        let spec = PeerSpec::new(PublicKey::from_bytes([3; 32]), None, [], 0);
        assert_eq!(to_peer(&spec).preshared_key, None);
        let psk = kubewire_core::PresharedKey::from_bytes([9; 32]);
        let spec = spec.with_preshared_key(Some(psk.clone()));
        assert_eq!(to_peer(&spec).preshared_key, Some(Key::new([9; 32])));
        assert!(!format!("{spec:?}").contains(&psk.to_base64()));
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
