//! Per-peer handshake statistics from the daemon: the first-handshake step and service gateway
//! failover (the decision itself is [`crate::failover::decide`]).

use kubewire_ipc::PeerStatus;

use super::*;

impl<S: PlanSink> Controller<S> {
    /// Takes per-peer stats; `true` if the gateway moved (re-plan).
    pub(super) fn handle_stats(&mut self, peers: &[PeerStatus]) -> bool {
        self.ages = peers
            .iter()
            .map(|p| (p.name.clone(), p.last_handshake_secs))
            .collect();
        if !self.first_handshake && peers.iter().any(|p| p.last_handshake_secs.is_some()) {
            self.first_handshake = true;
            let detail = peers
                .iter()
                .find(|p| p.last_handshake_secs.is_some())
                .map(|p| p.name.clone())
                .unwrap_or_default();
            self.emit(ControllerEvent::Step {
                step: Step::FirstHandshake,
                took: self.last_step.elapsed(),
                detail,
            });
        }
        let Some(plan) = &self.last_sent else {
            return false;
        };
        let segments = failover::segments(plan);
        let gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        let decision = failover::decide(&FailoverInput {
            segments: &segments,
            gateway: gateway.as_deref(),
            original: self.original_gateway.as_deref(),
            handshake_ages: &self.ages,
            current_override: self.gateway_override.as_ref().map(|(n, _)| n.as_str()),
            up_for: self.up_since.elapsed(),
        });
        let from = plan.service_gateway.as_ref().map(|g| g.leader.clone());
        match decision {
            FailoverDecision::Keep => false,
            FailoverDecision::MoveTo { node, reason, .. } => {
                tracing::info!(from = ?from, to = %node, %reason, "service gateway failover");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: Some(node.clone()),
                    reason: reason.clone(),
                });
                self.gateway_override = Some((node, reason));
                true
            }
            FailoverDecision::Restore { reason } => {
                tracing::info!(from = ?from, %reason, "service gateway back to the original");
                self.emit(ControllerEvent::GatewayMoved {
                    from,
                    to: self.user_gateway.clone(),
                    reason,
                });
                self.gateway_override = None;
                true
            }
        }
    }
}
