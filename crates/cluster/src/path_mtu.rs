//! `kubewire doctor`'s path-MTU probe: pings with "don't fragment" set, over the tunnel, to a segment
//! leader's Kilo address, to learn whether packets of the tunnel's MTU cross the path, and if not, the
//! largest that do (a binary search from 576 up; each lost ping costs its one-second wait). Runs the
//! system's `ping` (no raw socket of our own: it works unprivileged where `ping` does).

use std::net::IpAddr;
use std::process::Command;

use kubewire_ipc::Status;

/// IPv4 + ICMP headers: a ping of `payload` bytes is an IP packet of `payload + 28`.
const HEADERS: u16 = 28;
/// The smallest MTU worth probing (IPv4's minimum).
const MIN_MTU: u16 = 576;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMtu {
    /// Packets of the tunnel's MTU cross to `target`.
    Fits { mtu: u16, target: IpAddr },
    /// They do not; packets of `works` bytes do.
    TooLarge { mtu: u16, works: u16, target: IpAddr },
    /// Not even small packets came back (the handshakes check says why), or no `ping`.
    Unknown { why: String },
}

/// The address to probe: the Kilo address (a /32 in the Kilo subnet) of the first peer with a
/// fresh handshake ([`kubewire_ipc::health`]).
#[must_use]
pub fn target(status: &Status) -> Option<IpAddr> {
    status
        .peers
        .iter()
        .filter(|p| p.health().is_fresh())
        .flat_map(|p| p.allowed_ips.iter())
        .find(|net| net.addr().is_ipv4() && net.prefix_len() == 32)
        .map(ipnet::IpNet::addr)
}

/// Probes the path to `target` for packets of `mtu` bytes (blocking: seconds when they are lost).
#[must_use]
pub fn probe(target: IpAddr, mtu: u16) -> PathMtu {
    match ping(target, 64) {
        Ok(true) => {}
        Ok(false) => {
            return PathMtu::Unknown {
                why: format!("{target} does not answer a small ping over the tunnel"),
            };
        }
        Err(why) => return PathMtu::Unknown { why },
    }
    if ping(target, mtu).unwrap_or(false) {
        return PathMtu::Fits { mtu, target };
    }
    // The largest size that crosses, between MIN_MTU (assumed to) and mtu (does not).
    let (mut good, mut bad) = (MIN_MTU, mtu);
    while bad - good > 4 {
        let mid = good + (bad - good) / 2;
        if ping(target, mid).unwrap_or(false) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    PathMtu::TooLarge {
        mtu,
        works: good,
        target,
    }
}

/// One DF-set ping whose IP packet is `size` bytes; `Ok(false)` when no answer came in a second.
fn ping(target: IpAddr, size: u16) -> Result<bool, String> {
    let payload = size.saturating_sub(HEADERS).to_string();
    let target = target.to_string();
    let out = Command::new("ping")
        .args(df_ping_args(&payload, &target))
        .output()
        .map_err(|e| format!("cannot run ping: {e}"))?;
    Ok(out.status.success())
}

/// `ping`'s arguments for one packet with "don't fragment", waiting a second, per OS.
fn df_ping_args<'a>(payload: &'a str, target: &'a str) -> Vec<&'a str> {
    #[cfg(target_os = "windows")]
    let args = vec!["-n", "1", "-w", "1000", "-f", "-l", payload, target];
    #[cfg(target_os = "macos")]
    let args = vec!["-n", "-q", "-D", "-c", "1", "-t", "1", "-s", payload, target];
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    let args = vec![
        "-n", "-q", "-M", "do", "-c", "1", "-W", "1", "-s", payload, target,
    ];
    args
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use kubewire_ipc::{PeerStatus, TunnelState};

    use super::*;

    fn peer(handshake: Option<u64>, ips: &[&str]) -> PeerStatus {
        PeerStatus {
            name: "aws".into(),
            public_key: kubewire_core::PublicKey::from_bytes([1; 32]),
            endpoint: None,
            allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            last_handshake_secs: handshake,
            rx_bytes: 0,
            tx_bytes: 0,
            health: None,
        }
    }

    #[test]
    fn probes_the_kilo_address_of_a_peer_that_answers() {
        let mut status = Status::disconnected();
        status.state = TunnelState::Connected;
        status.peers = vec![
            peer(None, &["10.4.0.1/32", "10.42.0.0/24"]),
            peer(Some(3), &["10.42.1.0/24", "10.4.0.2/32"]),
        ];
        assert_eq!(target(&status), Some("10.4.0.2".parse().unwrap()));
        status.peers.remove(1);
        assert_eq!(target(&status), None);
    }

    #[test]
    fn a_packet_size_is_its_ip_length() {
        let args = df_ping_args("1292", "10.4.0.2");
        assert!(args.ends_with(&["1292", "10.4.0.2"]), "{args:?}");
    }
}
