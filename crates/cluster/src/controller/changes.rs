//! Watch changes into the controller's [`kubewire_core::Planner`]: a list replaces what it
//! lists, an apply or a delete changes one object; a change that may move the Plan is planned at
//! once, or at the end of the quiet time when it follows a sent Plan within it; a failing watch
//! asks for a probe; a vanished own Peer asks for it to be registered again.

use std::collections::BTreeSet;
use std::time::Instant;

use kubewire_core::Change;

use super::state::{Command, Controller};
use crate::events::ControllerEvent;
use crate::watch::ClusterChange;

impl Controller {
    /// A watch reported `change` at `now`.
    pub fn handle_change(&mut self, change: ClusterChange, now: Instant) {
        let peers_changed = matches!(
            change,
            ClusterChange::PeersListed(_) | ClusterChange::PeerDeleted(_)
        );
        if self.apply_change(change) {
            if peers_changed {
                self.reregister_if_gone();
            }
            // The first change of a burst is planned at once; what follows within the quiet
            // time is coalesced into one re-plan at its end.
            let quiet_until = self.quiet_until.filter(|&until| until > now);
            self.debounce.get_or_insert(quiet_until.unwrap_or(now));
        } else if self.reach.is_reachable() {
            self.probe_soon(now);
        }
    }

    /// Applies a watch change to the snapshot; `true` if it may change the Plan.
    fn apply_change(&mut self, change: ClusterChange) -> bool {
        match change {
            ClusterChange::NodesListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|n| n.name.clone()).collect();
                for gone in self.nodes.difference(&names) {
                    self.planner.remove_node(gone);
                }
                for node in &list {
                    self.planner.upsert_node(node);
                }
                self.nodes = names;
            }
            ClusterChange::NodeApplied(node) => {
                self.nodes.insert(node.name.clone());
                self.planner.upsert_node(&node);
            }
            ClusterChange::NodeDeleted(name) => {
                self.nodes.remove(&name);
                self.planner.remove_node(&name);
            }
            ClusterChange::PeersListed(list) => {
                let names: BTreeSet<String> = list.iter().map(|p| p.name.clone()).collect();
                for gone in self.peers.difference(&names) {
                    self.planner.remove_peer(gone);
                }
                for peer in &list {
                    self.planner.upsert_peer(peer);
                }
                self.peers = names;
            }
            ClusterChange::PeerApplied(peer) => {
                self.peers.insert(peer.name.clone());
                self.planner.upsert_peer(&peer);
            }
            ClusterChange::PeerDeleted(name) => {
                self.peers.remove(&name);
                self.planner.remove_peer(&name);
            }
            ClusterChange::NamespacesListed(list) => {
                return self.planner.set_namespaces(Some(list.into_iter().collect())) == Change::Changed;
            }
            ClusterChange::NamespaceApplied(name) => {
                return self.planner.upsert_namespace(&name) == Change::Changed;
            }
            ClusterChange::NamespaceDeleted(name) => {
                return self.planner.remove_namespace(&name) == Change::Changed;
            }
            ClusterChange::Expired { resource } => {
                self.emit(ControllerEvent::Relisted {
                    resource: resource.to_owned(),
                });
                return false;
            }
            ClusterChange::WatchFailed {
                resource,
                status,
                message,
            } => {
                tracing::debug!(resource, ?status, %message, "watch failed");
                // Refusals do not go away by retrying. Judged by the status code, not the
                // message's words: 401 Unauthorized is an expired or revoked credential (said
                // once: sign in again), 403 Forbidden a missing permission (RBAC, once per
                // resource).
                if status == Some(401) {
                    if !self.sign_in_needed {
                        self.sign_in_needed = true;
                        self.emit(ControllerEvent::SignInNeeded {
                            message: message.clone(),
                        });
                    }
                } else if status == Some(403) && self.refused_watches.insert(resource) {
                    self.emit(ControllerEvent::Warning {
                        message: format!(
                            "the API server refuses to let this user watch {resource}: {message}; \
                             kubewire needs list/watch on nodes, namespaces and peers.kilo.squat.ai \
                             (without namespaces, <service>.<namespace> names do not resolve)"
                        ),
                    });
                }
                self.last_error = Some(message);
                self.status_changed = true;
                return false;
            }
        }
        true
    }

    /// Asks for the laptop's Peer to be registered again when it vanished from the cluster.
    fn reregister_if_gone(&mut self) {
        if !self.reregister {
            return;
        }
        let Some(name) = self.base_request.peer_name.clone() else {
            return;
        };
        if self.peers.contains(&name) {
            return;
        }
        tracing::info!(peer = %name, "Peer deleted in the cluster; registering it again");
        self.emit(ControllerEvent::Warning {
            message: format!(
                "the laptop's Kilo Peer {name} was deleted in the cluster; registering it again"
            ),
        });
        self.commands.push_back(Command::Register);
    }
}
