//! The daemon's comings and goings. A daemon that stops, crashes or is restarted (systemd's
//! `Restart=`, a package upgrade) starts again with no tunnel: it cleans up what its predecessor
//! left and waits, because the laptop's private key is never written to its disk. The controller
//! holds the key and the Plan, so it restores the tunnel: it hears that the daemon went away (its
//! event stream closed), says so, and applies the Plan in force again as soon as the daemon answers;
//! then it re-plans as usual, so a change that happened meanwhile follows at once.

use super::*;

impl<S: PlanSink> Controller<S> {
    /// The daemon's event stream closed.
    pub(super) fn daemon_lost(&mut self, message: String) {
        if self.daemon_lost.is_some() {
            return;
        }
        tracing::warn!(%message, "the kubewire daemon went away; the tunnel is restored when it is back");
        self.daemon_lost = Some((SystemTime::now(), Instant::now(), message.clone()));
        self.emit(ControllerEvent::DaemonLost { message });
        self.publish();
    }

    /// The daemon answers again (a restarted one has no tunnel): [`Self::restore`] follows.
    pub(super) fn daemon_back(&mut self) {
        if let Some((_, since, _)) = &self.daemon_lost {
            tracing::info!(
                after_ms = since.elapsed().as_millis() as u64,
                "the kubewire daemon answers again; applying the plan"
            );
        }
    }

    /// Applies the Plan in force to the daemon again; `true` when it took it (or there is none).
    pub(super) async fn restore(&mut self) -> bool {
        let Some(plan) = self.last_sent.clone() else {
            self.daemon_lost = None;
            self.publish();
            return true;
        };
        let update = PlanUpdate {
            plan,
            private_key: self.config.private_key.clone(),
            session: self.config.session.clone(),
        };
        match self.sink.apply(&update).await {
            Ok(()) => {
                let after = self
                    .daemon_lost
                    .take()
                    .map_or(Duration::ZERO, |(_, since, _)| since.elapsed());
                tracing::info!(
                    after_ms = after.as_millis() as u64,
                    peers = update.plan.peers.len(),
                    "the tunnel is restored on the restarted daemon"
                );
                self.emit(ControllerEvent::DaemonBack { after });
                self.pending = false;
                self.status
                    .send_modify(|s| s.plan_sent_at = Some(unix(SystemTime::now())));
                self.publish();
                // Anything that changed in the cluster meanwhile.
                self.replan().await;
                true
            }
            Err(error) => {
                tracing::info!(%error, "re-applying the plan to the daemon failed; retrying");
                self.emit(ControllerEvent::SinkFailed {
                    message: error.to_string(),
                });
                false
            }
        }
    }
}
