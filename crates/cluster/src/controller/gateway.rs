//! Per-peer handshake statistics from the daemon: the first-handshake step and service gateway
//! failover (the decision itself is [`crate::failover::decide`]).

use std::time::{Instant, SystemTime};

use kubewire_ipc::PeerStatus;

use super::state::Controller;
use crate::events::{ControllerEvent, Step};
use crate::failover::{self, FailoverDecision, FailoverInput};

impl Controller {
    /// The daemon's per-peer statistics at `now`; re-plans at once when the gateway moves.
    pub fn handle_stats(&mut self, peers: &[PeerStatus], now: Instant, wall: SystemTime) {
        self.ages = peers
            .iter()
            .map(|p| (p.name.clone(), p.last_handshake_secs))
            .collect();
        if !self.first_handshake
            && let Some(first) = peers.iter().find(|p| p.last_handshake_secs.is_some())
        {
            self.first_handshake = true;
            self.emit(ControllerEvent::Step {
                step: Step::FirstHandshake,
                took: now.saturating_duration_since(self.last_step),
                detail: first.name.clone(),
            });
        }
        let Some(plan) = &self.last_sent else {
            return;
        };
        let segments = failover::segments(plan);
        let gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        let from = plan.service_gateway.as_ref().map(|g| g.leader.clone());
        let decision = failover::decide(&FailoverInput {
            segments: &segments,
            gateway: gateway.as_deref(),
            original: self.gateway.original.as_deref(),
            handshake_ages: &self.ages,
            current_override: self.gateway.failover.as_ref().map(|(n, _)| n.as_str()),
            up_for: now.saturating_duration_since(self.up_since),
        });
        match decision {
            FailoverDecision::Keep => return,
            FailoverDecision::MoveTo { node, reason, .. } => {
                tracing::info!(from = ?from, to = %node, %reason, "service gateway failover");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: Some(node.clone()),
                    reason: reason.clone(),
                });
                self.gateway.failover = Some((node, reason));
            }
            FailoverDecision::Restore { reason } => {
                tracing::info!(from = ?from, %reason, "service gateway back to the original");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: self.gateway.user.clone(),
                    reason,
                });
                self.gateway.failover = None;
            }
        }
        self.status_changed = true;
        self.update_request();
        self.replan(wall);
    }
}
