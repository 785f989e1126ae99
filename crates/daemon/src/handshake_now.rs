//! Segments ready before the first packet. WireGuard starts a handshake when a packet is to be
//! sent, or at the persistent keepalive (up to 25 s later): right after an update adds peers (a
//! node that joins or moves) or a roam or resume renews them, one empty UDP datagram per peer, to
//! an address the peer routes and the tunnel carries, starts every handshake at once, so the
//! user's first packet to those pods finds a session ready. Not at connect: the laptop's Peer is
//! new then, and a node that has not configured it yet would drop the initiation (see `apply`).
//! And when a port is exposed: then the cluster speaks first, and every segment must know where the
//! laptop is (WireGuard tries again 5 s after a dropped initiation while the datagram waits).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use kubewire_tunnel::PeerSpec;

/// The discard port: nothing answers, nothing listens on a node for it.
const DISCARD: u16 = 9;

/// Where to send each peer's datagram: the peer's own host address (its Kilo address, a /32 or
/// /128 in its allowed IPs) when the tunnel routes it, else the first address of its first range
/// the tunnel routes. A peer none of whose ranges the tunnel carries (withdrawn for a LAN) is
/// skipped: its datagram would leave by the LAN.
#[must_use]
pub fn targets<'a>(peers: impl IntoIterator<Item = &'a PeerSpec>, routes: &[IpNet]) -> Vec<SocketAddr> {
    let routed = |ip: IpAddr| routes.iter().any(|r| r.contains(&ip));
    peers
        .into_iter()
        .filter(|p| p.endpoint.is_some())
        .filter_map(|peer| {
            let host = peer
                .allowed_ips
                .iter()
                .filter(|net| net.prefix_len() == net.max_prefix_len())
                .map(IpNet::addr)
                .find(|ip| routed(*ip));
            host.or_else(|| {
                peer.allowed_ips
                    .iter()
                    .filter_map(|net| net.hosts().next())
                    .find(|ip| routed(*ip))
            })
        })
        .map(|ip| SocketAddr::new(ip, DISCARD))
        .collect()
}

/// Sends one empty datagram to each target (best effort: a failure is logged at debug, the
/// handshake then starts with the first real packet, as it always did).
pub async fn start(targets: &[SocketAddr]) {
    if targets.is_empty() {
        return;
    }
    for family_v4 in [true, false] {
        let these: Vec<&SocketAddr> = targets.iter().filter(|t| t.is_ipv4() == family_v4).collect();
        if these.is_empty() {
            continue;
        }
        let bind: SocketAddr = if family_v4 {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = match tokio::net::UdpSocket::bind(bind).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "no socket to start the handshakes with");
                continue;
            }
        };
        for target in these {
            if let Err(e) = socket.send_to(&[], target).await {
                tracing::debug!(%target, error = %e, "could not start a handshake");
            }
        }
    }
    tracing::debug!(peers = targets.len(), "handshakes started");
}

/// Every peer of `session` at once: the cluster opens connections to the laptop (an exposed
/// port), and a segment that has not had a handshake yet does not know where the laptop is.
pub async fn every_peer(session: &crate::session::Session) {
    let live = session.tunnel.live();
    let routes: Vec<_> = live.routes.iter().copied().collect();
    start(&targets(live.peers.values(), &routes)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8, allowed: &[&str], endpoint: bool) -> PeerSpec {
        PeerSpec::new(
            kubewire_core::PublicKey::from_bytes([n; 32]),
            endpoint.then(|| "192.0.2.10:51820".parse().unwrap()),
            allowed.iter().map(|a| a.parse().unwrap()),
            25,
        )
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn each_peer_is_prodded_at_an_address_the_tunnel_carries() {
        let aws = peer(1, &["10.42.0.0/24", "10.4.0.2/32", "192.168.10.11/32"], true);
        let gcp = peer(2, &["10.42.2.0/24"], true);
        let lan = peer(3, &["10.42.3.0/24", "10.4.0.1/32"], true);
        let roaming = peer(4, &["10.4.0.9/32"], false);
        // 10.42.3.0/24 and 10.4.0.1/32 withdrawn for a LAN: not routed.
        let routes = nets(&[
            "10.42.0.0/24",
            "10.4.0.2/32",
            "192.168.10.11/32",
            "10.42.2.0/24",
            "10.4.0.9/32",
        ]);
        let got = targets([&aws, &gcp, &lan, &roaming], &routes);
        assert_eq!(
            got,
            vec![
                "10.4.0.2:9".parse::<SocketAddr>().unwrap(),
                "10.42.2.1:9".parse().unwrap(),
            ],
            "the node's own address first; a range's first host else; a peer whose ranges left the \
             tunnel and one without an endpoint are skipped"
        );
    }
}
