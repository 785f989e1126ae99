//! A session: the tunnel one owner brought up, the Plan it runs, who controls it. And the pure
//! assessment of its health (time comes in as an argument).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubewire_core::Plan;
use kubewire_ipc::{PeerStatus, SessionInfo, Status, TunnelState};
use kubewire_tunnel::{PeerStats, Tunnel, TunnelError};

/// Handshakes are not expected in the first seconds of a session.
pub const HANDSHAKE_GRACE_SECS: u64 = 20;
/// A peer without a handshake for longer than this makes the tunnel degraded (WireGuard re-keys
/// every 2 minutes while traffic flows, and keepalives keep it flowing).
pub const HANDSHAKE_STALE_SECS: u64 = 180;

/// Unix seconds now.
#[must_use]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
}

/// Joins the Plan's peers with the live statistics.
#[must_use]
pub fn peer_statuses(plan: &Plan, stats: &[PeerStats], now: u64) -> Vec<PeerStatus> {
    plan.peers
        .iter()
        .map(|entry| {
            let live = stats.iter().find(|s| s.public_key == entry.public_key);
            PeerStatus {
                name: entry.name.clone(),
                public_key: entry.public_key,
                endpoint: live
                    .and_then(|s| s.endpoint)
                    .map(|e| e.to_string())
                    .or_else(|| entry.endpoint.as_ref().map(ToString::to_string)),
                allowed_ips: entry.allowed_ips.clone(),
                last_handshake_secs: live.and_then(|s| s.last_handshake).map(|t| now.saturating_sub(t)),
                rx_bytes: live.map_or(0, |s| s.rx_bytes),
                tx_bytes: live.map_or(0, |s| s.tx_bytes),
            }
        })
        .collect()
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Connected or Degraded, and why. `since(peer)` is when that peer's grace period started (the
/// session's start, or when the peer was last added).
#[must_use]
pub fn assess(
    since: impl Fn(&PeerStatus) -> u64,
    now: u64,
    peers: &[PeerStatus],
    controller_lost_at: Option<u64>,
) -> (TunnelState, Vec<String>) {
    let mut warnings = Vec::new();
    if let Some(lost) = controller_lost_at {
        warnings.push(format!(
            "the controller is gone: the tunnel keeps its last Plan and is no longer updated since {} \
             (run `kubewire connect` again to resume)",
            http_date(lost)
        ));
    }
    for peer in peers
        .iter()
        .filter(|p| now.saturating_sub(since(p)) > HANDSHAKE_GRACE_SECS)
    {
        match peer.last_handshake_secs {
            None => warnings.push(format!("no handshake with {} yet", peer.name)),
            Some(age) if age > HANDSHAKE_STALE_SECS => {
                warnings.push(format!("no handshake with {} for {age} s", peer.name));
            }
            Some(_) => {}
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
        let (peers, backend_problem) = match stats {
            Ok(stats) => (peer_statuses(&self.plan, stats, now), None),
            Err(e) => (peer_statuses(&self.plan, &[], now), Some(e)),
        };
        let since = |p: &PeerStatus| {
            self.peer_added_at
                .get(&p.public_key)
                .copied()
                .unwrap_or(self.connected_since)
                .max(self.connected_since)
        };
        let (mut state, mut warnings) = assess(since, now, &peers, self.controller.lost_since());
        if let Some(problem) = backend_problem {
            state = TunnelState::Degraded;
            warnings.insert(0, format!("the WireGuard backend does not answer: {problem}"));
        }
        warnings.extend(self.withdrawn.iter().map(ToString::to_string));
        warnings.extend(self.apply_warnings.iter().cloned());
        warnings.extend(self.dns_warnings.iter().cloned());
        warnings.extend(self.dns.iter().flat_map(crate::dns::DnsSession::warnings));
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_core::PublicKey;

    fn peer(name: &str, handshake: Option<u64>) -> PeerStatus {
        PeerStatus {
            name: name.into(),
            public_key: PublicKey::from_bytes([1; 32]),
            endpoint: None,
            allowed_ips: vec![],
            last_handshake_secs: handshake,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    #[test]
    fn fresh_sessions_are_connected_while_handshakes_are_pending() {
        let (state, warnings) = assess(|_| 1000, 1010, &[peer("aws", None)], None);
        assert_eq!(state, TunnelState::Connected);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_peer_without_handshake_after_the_grace_period_degrades() {
        let (state, warnings) = assess(|_| 1000, 1021, &[peer("aws", Some(5)), peer("gcp", None)], None);
        assert_eq!(state, TunnelState::Degraded);
        assert_eq!(warnings, vec!["no handshake with gcp yet".to_owned()]);
        let (state, warnings) = assess(|_| 1000, 2000, &[peer("aws", Some(181))], None);
        assert_eq!(state, TunnelState::Degraded);
        assert!(warnings[0].contains("aws for 181 s"));
        let (state, _) = assess(|_| 1000, 2000, &[peer("aws", Some(180))], None);
        // A peer added a moment ago in an old session gets its own grace period.
        let (state_new, _) = assess(
            |p| if p.name == "new" { 1990 } else { 1000 },
            2000,
            &[peer("new", None)],
            None,
        );
        assert_eq!(state_new, TunnelState::Connected);
        assert_eq!(state, TunnelState::Connected);
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
        let (state, warnings) = assess(|_| 1000, 1005, &[], Some(1_800_000_000));
        assert_eq!(state, TunnelState::Degraded);
        assert!(warnings[0].contains("no longer updated since"), "{}", warnings[0]);
        assert!(warnings[0].contains("GMT"), "{}", warnings[0]);
    }
}
