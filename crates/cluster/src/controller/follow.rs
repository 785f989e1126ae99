//! The controller's loop: watch changes, periodic probes of the API server (its clock, its
//! reachability), debounced re-planning, and the hand-over of changed Plans to the sink.

use super::*;

impl<S: PlanSink> Controller<S> {
    pub(super) async fn run(
        mut self,
        mut stop: oneshot::Receiver<StopMode>,
        mut daemon: Option<mpsc::Receiver<DaemonSignal>>,
    ) -> Result<(), ClusterError> {
        let (tx, mut changes) = mpsc::channel(1024);
        let nodes = tokio::spawn(follow_nodes(self.client.clone(), tx.clone()));
        let peers = tokio::spawn(follow_peers(self.client.clone(), tx.clone()));
        let namespaces = tokio::spawn(follow_namespaces(self.client.clone(), tx));
        let mut debounce: Option<Instant> = None;
        let mut next_probe = Instant::now() + self.config.replan_every;
        let mut backoff = Duration::from_secs(1);
        // Re-applying the Plan to a daemon that came back: when next, and the wait after a failure.
        let mut restore_at: Option<Instant> = None;
        let mut restore_backoff = RESTORE_FIRST_RETRY;
        let mode = loop {
            tokio::select! {
                mode = &mut stop => break mode.unwrap_or(StopMode::Detach),
                Some(change) = changes.recv() => {
                    let peers_changed = matches!(change, ClusterChange::PeersListed(_) | ClusterChange::PeerDeleted(_));
                    if self.handle_change(change) {
                        if peers_changed {
                            self.reregister_if_gone().await;
                        }
                        debounce.get_or_insert_with(|| Instant::now() + self.config.debounce);
                    } else if self.unreachable_since.is_none() {
                        // A failing watch: probe now to tell a dead API server from a passing error.
                        next_probe = next_probe.min(Instant::now());
                    }
                }
                () = sleep_until_opt(debounce) => {
                    debounce = None;
                    self.replan().await;
                }
                () = tokio::time::sleep_until(next_probe) => {
                    let was_unreachable = self.unreachable_since.is_some();
                    if self.probe().await {
                        backoff = Duration::from_secs(1);
                        next_probe = Instant::now() + self.config.replan_every;
                        if was_unreachable {
                            // Give the watches a moment to catch up before planning again.
                            debounce = Some(Instant::now() + RESUME_SETTLE);
                        } else if debounce.is_none() {
                            self.replan().await;
                        }
                    } else {
                        next_probe = Instant::now() + backoff;
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
                signal = recv_opt(&mut daemon) => match signal {
                    Some(DaemonSignal::Stats(peers)) => {
                        if self.handle_stats(&peers) {
                            self.replan().await;
                        }
                    }
                    Some(DaemonSignal::Lost { message }) => {
                        restore_at = None;
                        self.daemon_lost(message);
                    }
                    Some(DaemonSignal::Back { .. }) => {
                        self.daemon_back();
                        restore_at = Some(Instant::now());
                        restore_backoff = RESTORE_FIRST_RETRY;
                    }
                    None => daemon = None,
                },
                () = sleep_until_opt(restore_at) => {
                    if self.restore().await {
                        restore_at = None;
                    } else {
                        restore_at = Some(Instant::now() + restore_backoff);
                        restore_backoff = (restore_backoff * 2).min(self.config.max_backoff);
                    }
                }
            }
        };
        nodes.abort();
        peers.abort();
        namespaces.abort();
        self.finish(mode).await
    }

    async fn finish(mut self, mode: StopMode) -> Result<(), ClusterError> {
        let result = match mode {
            StopMode::Detach => Ok(()),
            StopMode::Disconnect { keep_peer } => {
                let down = self
                    .sink
                    .disconnect()
                    .await
                    .map_err(|e| ClusterError::Plan(format!("taking the tunnel down: {e}")));
                let peer = match (&self.config.request.peer_name, keep_peer) {
                    (Some(name), false) => registration::unregister(&self.client, name).await,
                    _ => Ok(()),
                };
                down.and(peer)
            }
        };
        self.emit(ControllerEvent::Stopped);
        result
    }

    pub(super) fn emit(&self, event: ControllerEvent) {
        let _ = self.events.send(event);
    }

    pub(super) fn publish(&self) {
        let unreachable_since = self.unreachable_since.map(|(t, _)| unix(t));
        let daemon_lost_since = self.daemon_lost.as_ref().map(|(t, _, _)| unix(*t));
        let daemon_error = self.daemon_lost.as_ref().map(|(_, _, m)| m.clone());
        self.status.send_modify(|s| {
            s.reachable = unreachable_since.is_none();
            s.unreachable_since = unreachable_since;
            s.daemon_lost_since = daemon_lost_since;
            s.daemon_error = daemon_error;
            s.plan.clone_from(&self.last_sent);
            s.gateway_override.clone_from(&self.gateway_override);
            s.warnings = self.last_plan_error.iter().cloned().collect();
        });
    }

    /// Applies a watch change to the snapshot; `true` if it may change the Plan.
    fn handle_change(&mut self, change: ClusterChange) -> bool {
        match change {
            ClusterChange::NodesListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|n| n.name.clone()).collect();
                for gone in self.nodes.difference(&names) {
                    self.snapshot.remove_node(gone);
                }
                list.iter().for_each(|n| {
                    self.snapshot.upsert_node(n);
                });
                self.nodes = names;
            }
            ClusterChange::NodeApplied(n) => {
                self.nodes.insert(n.name.clone());
                self.snapshot.upsert_node(&n);
            }
            ClusterChange::NodeDeleted(name) => {
                self.nodes.remove(&name);
                self.snapshot.remove_node(&name);
            }
            ClusterChange::PeersListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|p| p.name.clone()).collect();
                for gone in self.peers.difference(&names) {
                    self.snapshot.remove_peer(gone);
                }
                list.iter().for_each(|p| {
                    self.snapshot.upsert_peer(p);
                });
                self.peers = names;
            }
            ClusterChange::PeerApplied(p) => {
                self.peers.insert(p.name.clone());
                self.snapshot.upsert_peer(&p);
            }
            ClusterChange::PeerDeleted(name) => {
                self.peers.remove(&name);
                self.snapshot.remove_peer(&name);
            }
            ClusterChange::NamespacesListed(list) => {
                return self.snapshot.set_namespaces(Some(list.into_iter().collect())) == Change::Changed;
            }
            ClusterChange::NamespaceApplied(name) => {
                return self.snapshot.upsert_namespace(&name) == Change::Changed;
            }
            ClusterChange::NamespaceDeleted(name) => {
                return self.snapshot.remove_namespace(&name) == Change::Changed;
            }
            ClusterChange::Expired { resource } => {
                self.emit(ControllerEvent::Relisted {
                    resource: resource.to_owned(),
                });
                return false;
            }
            ClusterChange::WatchFailed { resource, message } => {
                tracing::debug!(resource, %message, "watch failed");
                // Refusals (RBAC) do not go away by retrying: say so once per resource.
                if (message.contains("Forbidden") || message.contains("Unauthorized"))
                    && self.refused_watches.insert(resource)
                {
                    self.emit(ControllerEvent::Warning {
                        message: format!(
                            "the API server refuses to let this user watch {resource}: {message}; \
                             kubewire needs list/watch on nodes, namespaces and peers.kilo.squat.ai \
                             (without namespaces, <service>.<namespace> names do not resolve)"
                        ),
                    });
                }
                self.status.send_modify(|s| s.last_error = Some(message));
                return false;
            }
        }
        true
    }

    /// Registers the laptop's Peer again when it vanished from the cluster (deleted by someone).
    async fn reregister_if_gone(&mut self) {
        let (Some(name), Some(reg)) = (&self.config.request.peer_name, &self.config.registration) else {
            return;
        };
        if self.peers.contains(name) {
            return;
        }
        let message =
            format!("the laptop's Kilo Peer {name} was deleted in the cluster; registering it again");
        tracing::info!(peer = %name, "Peer deleted in the cluster; registering it again");
        self.emit(ControllerEvent::Warning { message });
        let result = registration::register(
            &self.client,
            name,
            &reg.identity,
            &self.config.request.public_key,
            reg.address,
            self.config.request.settings.persistent_keepalive,
        )
        .await;
        if let Err(error) = result {
            self.emit(ControllerEvent::Warning {
                message: error.to_string(),
            });
        }
    }

    /// Probes the API server (refreshing its clock); `true` if it answered.
    async fn probe(&mut self) -> bool {
        let answer = tokio::time::timeout(
            self.config.probe_timeout,
            discovery::probe(&self.client, &self.server),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ClusterError::Unreachable {
                url: self.server.clone(),
                message: "no answer in time".into(),
            })
        });
        match answer {
            Ok(clock) => {
                self.clock = clock;
                if let Some((_, since)) = self.unreachable_since.take() {
                    tracing::info!(
                        after_secs = since.elapsed().as_secs(),
                        "cluster API reachable again"
                    );
                    self.emit(ControllerEvent::Reachable {
                        after: since.elapsed(),
                    });
                    self.publish();
                }
                true
            }
            Err(error) => {
                let message = error.to_string();
                if self.unreachable_since.is_none() {
                    let since = SystemTime::now();
                    tracing::info!(%message, "cluster API unreachable; keeping the last plan and retrying");
                    self.unreachable_since = Some((since, Instant::now()));
                    self.emit(ControllerEvent::Unreachable {
                        since,
                        message: message.clone(),
                    });
                }
                self.status.send_modify(|s| s.last_error = Some(message));
                self.publish();
                false
            }
        }
    }

    fn request(&self) -> PlanRequest {
        let mut request = self.config.request.clone();
        request.settings.service_gateway = self
            .gateway_override
            .as_ref()
            .map(|(node, _)| node.clone())
            .or_else(|| self.user_gateway.clone());
        request
    }

    pub(super) async fn replan(&mut self) {
        // The API server away: the last Plan stays. The daemon away: it gets the Plan when it is
        // back (`restore`), and then any newer one.
        if self.unreachable_since.is_some() || self.daemon_lost.is_some() {
            return;
        }
        let now = self.clock.now_unix();
        let plan = match plan(&self.snapshot, &self.request(), now) {
            Ok(plan) => plan,
            Err(error) => {
                let message = match &error {
                    PlanError::NoReadyNodes { total, .. } => {
                        format!("none of the {total} nodes is a ready Kilo node; keeping the last plan")
                    }
                    other => format!("{other}; keeping the last plan"),
                };
                if self.last_plan_error.as_ref() != Some(&message) {
                    tracing::info!(%message, "no new plan");
                    self.emit(ControllerEvent::Warning {
                        message: message.clone(),
                    });
                    self.last_plan_error = Some(message);
                    self.publish();
                }
                return;
            }
        };
        self.last_plan_error = None;
        if self.gateway_override.is_none() {
            self.original_gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
        }
        if !self.pending && self.last_sent.as_ref().is_some_and(|last| same_plan(last, &plan)) {
            return;
        }
        let update = PlanUpdate {
            plan,
            private_key: self.config.private_key.clone(),
            session: self.config.session.clone(),
        };
        match self.sink.apply(&update).await {
            Ok(()) => {
                let plan = update.plan;
                for message in crate::connect::public_refusals(&plan, self.last_sent.as_ref()) {
                    self.emit(ControllerEvent::Warning { message });
                }
                tracing::info!(
                    peers = plan.peers.len(),
                    routes = plan.routes.len(),
                    ready_nodes = plan.cluster.ready_nodes,
                    "plan sent"
                );
                self.emit(ControllerEvent::PlanSent {
                    peers: plan.peers.len(),
                    routes: plan.routes.len(),
                    ready_nodes: plan.cluster.ready_nodes,
                    gateway: plan.service_gateway.as_ref().map(|g| g.leader.clone()),
                });
                self.pending = false;
                self.last_sent = Some(plan);
                self.status
                    .send_modify(|s| s.plan_sent_at = Some(unix(SystemTime::now())));
            }
            Err(error) => {
                tracing::info!(%error, "sending the plan failed; retrying");
                self.pending = true;
                self.emit(ControllerEvent::SinkFailed {
                    message: error.to_string(),
                });
            }
        }
        self.publish();
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
