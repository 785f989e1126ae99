//! The daemon's shared state and its answers to requests. One session at most; every change to it
//! happens under one lock, so Plans apply in the order they arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kubewire_ipc::{ErrorCode, Event, PeerIdentity, Request, Response, Status};
use tokio::sync::{Mutex, broadcast};

use crate::apply::{ApplyRequest, apply};
use crate::dns::DnsOptions;
use crate::persist::StateFile;
use crate::session::{Session, now_secs};

pub struct Daemon {
    session: Mutex<Option<Session>>,
    events: broadcast::Sender<Event>,
    state_file: StateFile,
    call_timeout: Duration,
    dns: DnsOptions,
    next_connection: AtomicU64,
}

fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::Error {
        code,
        message: message.into(),
    }
}

/// The status of `slot`, reading live statistics under the backend timeout.
pub async fn status_of(slot: &mut Option<Session>) -> Status {
    match slot.as_mut() {
        None => Status::disconnected(),
        Some(session) => {
            let stats = session.tunnel.stats().await.map_err(|e| e.to_string());
            session.status(stats.as_deref().map_err(Clone::clone), now_secs())
        }
    }
}

impl Daemon {
    pub fn new(state_file: StateFile, call_timeout: Duration, dns: DnsOptions) -> Arc<Self> {
        let (events, _) = broadcast::channel(64);
        Arc::new(Self {
            session: Mutex::new(None),
            events,
            state_file,
            call_timeout,
            dns,
            next_connection: AtomicU64::new(1),
        })
    }

    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn has_subscribers(&self) -> bool {
        self.events.receiver_count() > 0
    }

    pub fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn publish_status(&self, slot: &mut Option<Session>) -> Status {
        let status = status_of(slot).await;
        self.publish(Event::Status {
            status: Box::new(status.clone()),
        });
        status
    }

    pub async fn current_status(&self) -> Status {
        let mut slot = self.session.lock().await;
        status_of(&mut slot).await
    }

    /// Live statistics for the periodic event, when a session is up.
    pub async fn peer_stats(&self) -> Option<Status> {
        let mut slot = self.session.lock().await;
        if slot.is_none() {
            return None;
        }
        Some(status_of(&mut slot).await)
    }

    /// Answers one request of connection `connection` from `peer`.
    pub async fn handle(&self, connection: u64, peer: &PeerIdentity, request: Request) -> Response {
        match request {
            Request::Apply {
                plan,
                private_key,
                session,
            } => {
                let mut slot = self.session.lock().await;
                let request = ApplyRequest {
                    plan: *plan,
                    private_key,
                    info: session,
                    uid: peer.uid,
                    connection,
                };
                match apply(&mut slot, &self.state_file, self.call_timeout, &self.dns, request).await {
                    Ok(changes) => {
                        let status = self.publish_status(&mut slot).await;
                        Response::Applied {
                            changes,
                            status: Box::new(status),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(uid = peer.uid, code = ?e.code, reason = %e.message, "Plan not applied");
                        if slot.is_some() {
                            self.publish_status(&mut slot).await;
                        }
                        error(e.code, e.message)
                    }
                }
            }
            Request::Disconnect => {
                let mut slot = self.session.lock().await;
                if let Some(session) = slot.as_ref()
                    && peer.uid != 0
                    && peer.uid != session.owner_uid
                {
                    return error(
                        ErrorCode::NotOwner,
                        format!(
                            "the tunnel belongs to uid {}; only that user or root may end it",
                            session.owner_uid
                        ),
                    );
                }
                match self.take_down(&mut slot).await {
                    Ok(()) => {
                        tracing::info!(uid = peer.uid, "disconnected");
                        self.publish_status(&mut slot).await;
                        Response::Disconnected
                    }
                    Err(message) => error(ErrorCode::Failed, message),
                }
            }
            Request::Status => {
                let mut slot = self.session.lock().await;
                Response::Status {
                    status: Box::new(status_of(&mut slot).await),
                }
            }
            Request::ShowConf => {
                let slot = self.session.lock().await;
                match slot.as_ref() {
                    None => error(ErrorCode::NoSession, "no tunnel is up (run `kubewire connect`)"),
                    Some(s) => Response::ShowConf {
                        text: kubewire_core::render::wg_quick::render(&s.plan, None),
                    },
                }
            }
            Request::Subscribe => Response::Subscribed,
        }
    }

    /// Removes the tunnel (routes, interface) and the state file. On failure the state file stays,
    /// so the next start cleans up.
    async fn take_down(&self, slot: &mut Option<Session>) -> Result<(), String> {
        let Some(mut session) = slot.take() else {
            // Nothing live; a state file of a failed earlier removal may remain: remove what it
            // names, not just the file.
            return crate::restore::clear_leftover(&self.state_file).await;
        };
        let name = session.tunnel.name().to_owned();
        // DNS first (the resolver may listen on the tunnel's address); a failure keeps the state
        // file, so the next start restores the system's DNS settings.
        let mut dns_failed = None;
        if let Some(dns) = session.dns.take()
            && let Err(e) = dns.stop().await
        {
            tracing::error!(interface = %name, error = %e, "could not restore the DNS settings");
            dns_failed = Some(e);
        }
        match session.tunnel.remove().await {
            Ok(()) => match dns_failed {
                None => self.state_file.remove().map_err(|e| e.to_string()),
                Some(e) => Err(format!(
                    "{e}; they will be restored when kubewired restarts \
                     (sudo systemctl restart kubewired)"
                )),
            },
            Err(err) => {
                tracing::error!(interface = %name, error = %err, "could not remove the interface");
                Err(format!(
                    "removing {name}: {err}; it will be removed when kubewired restarts \
                     (sudo systemctl restart kubewired)"
                ))
            }
        }
    }

    /// A connection closed: if it was the controller, the tunnel stays with its last Plan.
    pub async fn connection_closed(&self, connection: u64) {
        let mut slot = self.session.lock().await;
        let Some(session) = slot.as_mut() else {
            return;
        };
        if session.controller == Some(connection) {
            session.controller = None;
            session.controller_lost_at = Some(now_secs());
            tracing::warn!(
                interface = %session.tunnel.name(),
                "the controller disconnected; the tunnel stays up with its last Plan and is no longer updated"
            );
            self.publish_status(&mut slot).await;
        }
    }

    /// True when the session's BoringTun stopped by itself: it caught a SIGTERM/SIGINT meant for
    /// the daemon. Never waits for an apply under way.
    pub fn backend_took_a_signal(&self) -> bool {
        self.session
            .try_lock()
            .ok()
            .and_then(|slot| slot.as_ref().map(|s| !s.tunnel.backend_alive()))
            .unwrap_or(false)
    }

    /// Removes everything (SIGTERM / SIGINT). `true` when all was removed.
    pub async fn shutdown(&self) -> bool {
        let mut slot = self.session.lock().await;
        match self.take_down(&mut slot).await {
            Ok(()) => true,
            Err(message) => {
                tracing::error!(%message, "shutting down with leftovers");
                false
            }
        }
    }
}
