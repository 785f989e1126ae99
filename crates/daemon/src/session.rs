//! A session: the tunnel one owner brought up, the Plan it runs, who controls it. And the pure
//! assessment of its health (time comes in as an argument).

use kubewire_core::{Plan, PublicKey};
use kubewire_ipc::{PeerHealth, PeerStatus, SessionInfo, Status, TunnelState};
use kubewire_tunnel::{PeerStats, Tunnel, TunnelError};

pub use kubewire_ipc::time::now_secs;

/// Who keeps a session's Plan current: attached to one client connection, or lost since a moment.
/// One or the other, never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    /// The connection (its daemon-wide id) that applied the Plan last.
    Attached(u64),
    /// That connection closed at `since` (Unix seconds); the tunnel keeps its last Plan.
    Lost { since: u64 },
}

impl Controller {
    /// `connection` closed: the controller is lost now if it was that one (`true` then).
    pub fn connection_closed(&mut self, connection: u64, now: u64) -> bool {
        if *self == Self::Attached(connection) {
            *self = Self::Lost { since: now };
            return true;
        }
        false
    }

    /// Since when no controller updates the Plan, if so.
    #[must_use]
    pub fn lost_since(self) -> Option<u64> {
        match self {
            Self::Attached(_) => None,
            Self::Lost { since } => Some(since),
        }
    }
}

/// The live session.
pub struct Session {
    pub owner_uid: u32,
    pub info: SessionInfo,
    /// The Plan as applied (after the daemon's own policy check, without the ranges a local network
    /// overlaps).
    pub plan: Plan,
    /// The Plan as the controller sent it: what the tunnel returns to when an overlap goes.
    pub requested: Plan,
    /// The ranges of `requested` a local network overlaps now, left out of `plan`.
    pub withdrawn: Vec<kubewire_core::lan_yield::Withdrawn>,
    pub tunnel: Tunnel,
    /// The interface's MTU and why ([`crate::mtu`]).
    pub mtu: kubewire_core::mtu::TunnelMtu,
    /// The laptop's networks as last read (at the last Plan or network change).
    pub local: Vec<kubewire_core::lan_yield::LocalNetwork>,
    /// The last network change followed, and what was done.
    pub network_event: Option<kubewire_core::network_event::NetworkEvent>,
    /// Who updates the Plan: the connection that applied it last, or since when nobody does.
    pub controller: Controller,
    pub connected_since: u64,
    pub last_update: u64,
    /// Warnings of the last apply (endpoints that did not resolve…).
    pub apply_warnings: Vec<String>,
    /// When each peer was last (re-)added: its handshake grace period starts there.
    pub peer_added_at: std::collections::HashMap<kubewire_core::PublicKey, u64>,
    /// The split DNS, when the Plan has a cluster DNS server and it could start.
    pub dns: Option<crate::dns::DnsSession>,
    /// Why the split DNS is not (fully) working; the tunnel works regardless.
    pub dns_warnings: Vec<String>,
    /// The laptop's preshared key (on every peer), kept for re-checks after a network change.
    pub preshared_key: Option<kubewire_core::PresharedKey>,
    /// The laptop ports the cluster may connect to (`kubewire expose`).
    pub exposed: std::collections::BTreeSet<kubewire_ipc::ExposedPort>,
    /// Whether the inbound filter ([`crate::inbound`]) is in place.
    pub inbound: crate::inbound::Filter,
}

/// Joins the Plan's peers with the live statistics, and judges each ([`kubewire_ipc::health`]);
/// `since(key)` is when that peer's grace period started (the session's start, or when the peer
/// was last added).
#[must_use]
pub fn peer_statuses(
    plan: &Plan,
    stats: &[PeerStats],
    now: u64,
    since: impl Fn(&PublicKey) -> u64,
) -> Vec<PeerStatus> {
    plan.peers
        .iter()
        .map(|entry| {
            let live = stats.iter().find(|s| s.public_key == entry.public_key);
            let last_handshake_secs = live.and_then(|s| s.last_handshake).map(|t| now.saturating_sub(t));
            PeerStatus {
                name: entry.name.clone(),
                public_key: entry.public_key,
                endpoint: live
                    .and_then(|s| s.endpoint)
                    .map(|e| e.to_string())
                    .or_else(|| entry.endpoint.as_ref().map(ToString::to_string)),
                allowed_ips: entry.allowed_ips.clone(),
                last_handshake_secs,
                rx_bytes: live.map_or(0, |s| s.rx_bytes),
                tx_bytes: live.map_or(0, |s| s.tx_bytes),
                health: Some(PeerHealth::judge(
                    last_handshake_secs,
                    now.saturating_sub(since(&entry.public_key)),
                )),
            }
        })
        .collect()
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(kubewire_ipc::time::from_unix_secs(secs))
}

/// Connected or Degraded, and why, from the peers as judged by [`peer_statuses`].
#[must_use]
pub fn assess(peers: &[PeerStatus], controller_lost_at: Option<u64>) -> (TunnelState, Vec<String>) {
    let mut warnings = Vec::new();
    if let Some(lost) = controller_lost_at {
        warnings.push(format!(
            "the controller is gone: the tunnel keeps its last Plan and is no longer updated since {} \
             (run `kubewire connect` again to resume)",
            http_date(lost)
        ));
    }
    for peer in peers {
        match (peer.health(), peer.last_handshake_secs) {
            (PeerHealth::Never, _) | (PeerHealth::Stale, None) => {
                warnings.push(format!("no handshake with {} yet", peer.name));
            }
            (PeerHealth::Stale, Some(age)) => {
                warnings.push(format!("no handshake with {} for {age} s", peer.name));
            }
            (PeerHealth::Fresh | PeerHealth::InGrace, _) => {}
        }
    }
    let state = if warnings.is_empty() {
        TunnelState::Connected
    } else {
        TunnelState::Degraded
    };
    (state, warnings)
}

impl Session {
    /// The status, from live statistics (`Err`: the backend did not answer).
    pub fn status(&self, stats: Result<&[PeerStats], &TunnelError>, now: u64) -> Status {
        let since = |key: &PublicKey| {
            self.peer_added_at
                .get(key)
                .copied()
                .unwrap_or(self.connected_since)
                .max(self.connected_since)
        };
        let (peers, backend_problem) = match stats {
            Ok(stats) => (peer_statuses(&self.plan, stats, now, since), None),
            Err(e) => (peer_statuses(&self.plan, &[], now, since), Some(e)),
        };
        let (mut state, mut warnings) = assess(&peers, self.controller.lost_since());
        if let Some(problem) = backend_problem {
            state = TunnelState::Degraded;
            warnings.insert(0, format!("the WireGuard backend does not answer: {problem}"));
        }
        warnings.extend(self.withdrawn.iter().map(ToString::to_string));
        warnings.extend(self.apply_warnings.iter().cloned());
        warnings.extend(self.dns_warnings.iter().cloned());
        warnings.extend(self.dns.iter().flat_map(crate::dns::DnsSession::warnings));
        warnings.extend(self.inbound.warning().map(str::to_owned));
        if !warnings.is_empty() {
            state = TunnelState::Degraded;
        }
        Status {
            state,
            backend: Some(self.tunnel.backend().to_string()),
            interface: Some(self.tunnel.name().to_owned()),
            address: Some(self.plan.interface.address),
            connected_since: Some(self.connected_since),
            last_update: Some(self.last_update),
            owner_uid: Some(self.owner_uid),
            session: Some(self.info.clone()),
            controller_attached: matches!(self.controller, Controller::Attached(_)),
            peers,
            routes: self.plan.routes.clone(),
            service_gateway: self.plan.service_gateway.as_ref().map(|g| g.peer.clone()),
            dns_server: self.plan.dns.server,
            warnings,
            mtu: Some(self.mtu),
            network_event: self.network_event.clone(),
            container_dns: self
                .dns
                .iter()
                .flat_map(crate::dns::DnsSession::container_addresses)
                .collect(),
            withdrawn: self.withdrawn.clone(),
            connections: Vec::new(),
            exposed: self.exposed.iter().cloned().collect(),
            inbound_filter: self.inbound == crate::inbound::Filter::On,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sessions's peers `aws`, `gcp`, `new` (keys [1;32], [2;32], [3;32]) with these handshake
    /// times (Unix seconds), judged at `now`; `new` was added at `new_added`, the others at 1000.
    fn judged(handshakes: [Option<u64>; 3], now: u64, new_added: u64) -> Vec<PeerStatus> {
        let plan = crate::policy::tests::plan(&[
            ("aws", "192.0.2.1:51820", &["10.4.0.1/32"]),
            ("gcp", "192.0.2.2:51820", &["10.4.0.2/32"]),
            ("new", "192.0.2.3:51820", &["10.4.0.3/32"]),
        ]);
        let stats: Vec<PeerStats> = plan
            .peers
            .iter()
            .zip(handshakes)
            .map(|(p, last_handshake)| PeerStats {
                public_key: p.public_key,
                endpoint: None,
                last_handshake,
                rx_bytes: 0,
                tx_bytes: 0,
            })
            .collect();
        let new_key = plan.peers[2].public_key;
        peer_statuses(
            &plan,
            &stats,
            now,
            |k| if *k == new_key { new_added } else { 1000 },
        )
    }

    #[test]
    fn fresh_sessions_are_connected_while_handshakes_are_pending() {
        let peers = judged([None, None, None], 1019, 1000);
        assert!(peers.iter().all(|p| p.health == Some(PeerHealth::InGrace)));
        let (state, warnings) = assess(&peers, None);
        assert_eq!(state, TunnelState::Connected);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_peer_without_handshake_after_the_grace_period_degrades() {
        let (state, warnings) = assess(&judged([Some(1015), None, Some(1019)], 1020, 1000), None);
        assert_eq!(state, TunnelState::Degraded);
        assert_eq!(warnings, vec!["no handshake with gcp yet".to_owned()]);
        // 181 s and 180 s are stale, 179 s is not.
        for age in [181, 180] {
            let (state, warnings) = assess(
                &judged([Some(2000 - age), Some(1990), Some(1990)], 2000, 1000),
                None,
            );
            assert_eq!(state, TunnelState::Degraded);
            assert_eq!(warnings, vec![format!("no handshake with aws for {age} s")]);
        }
        let (state, _) = assess(
            &judged([Some(2000 - 179), Some(1990), Some(1990)], 2000, 1000),
            None,
        );
        assert_eq!(state, TunnelState::Connected);
        // A peer added a moment ago in an old session gets its own grace period.
        let peers = judged([Some(1990), Some(1990), None], 2000, 1990);
        assert_eq!(peers[2].health, Some(PeerHealth::InGrace));
        assert_eq!(assess(&peers, None).0, TunnelState::Connected);
    }

    #[test]
    fn only_the_attached_connection_closing_loses_the_controller() {
        let mut controller = Controller::Attached(7);
        assert!(!controller.connection_closed(8, 100));
        assert_eq!(controller, Controller::Attached(7));
        assert_eq!(controller.lost_since(), None);
        assert!(controller.connection_closed(7, 100));
        assert_eq!(controller, Controller::Lost { since: 100 });
        // Lost stays lost, from the first moment.
        assert!(!controller.connection_closed(7, 200));
        assert_eq!(controller.lost_since(), Some(100));
    }

    #[test]
    fn a_lost_controller_degrades_and_says_since_when() {
        let (state, warnings) = assess(&[], Some(1_800_000_000));
        assert_eq!(state, TunnelState::Degraded);
        assert!(warnings[0].contains("no longer updated since"), "{}", warnings[0]);
        assert!(warnings[0].contains("GMT"), "{}", warnings[0]);
    }
}
