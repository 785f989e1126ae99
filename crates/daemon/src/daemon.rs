//! The daemon's shared state and its answers to requests. One session at most; every change to it
//! happens under one lock, held only while the session changes: an Apply is prepared (policy,
//! endpoint names) before it takes the lock, so status, disconnect and SIGTERM never wait for a
//! lookup. Applies take a second lock for their whole length, so Plans apply in the order they
//! arrive; a disconnect while one is being prepared wins (that Plan is not applied afterwards).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kubewire_ipc::{ErrorCode, Event, PeerIdentity, Request, Response, Status};
use kubewire_tunnel::Lookup;
use tokio::sync::{Mutex, broadcast};

use crate::apply::{ApplyError, ApplyRequest, admit, apply};
use crate::dns::DnsOptions;
use crate::persist::StateFile;
use crate::prepare::{RESOLVE_DEADLINE, prepare, prepare_for, read_local_networks};
use crate::session::{Session, now_secs};

pub struct Daemon {
    session: Mutex<Option<Session>>,
    /// Held by an Apply from its start to its end (not by status or disconnect).
    applying: Mutex<()>,
    /// Counts disconnects: an Apply prepared across one is dropped.
    disconnects: AtomicU64,
    /// How endpoint names are resolved.
    lookup: Lookup,
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
            applying: Mutex::new(()),
            disconnects: AtomicU64::new(0),
            lookup: kubewire_tunnel::system_lookup(),
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

    /// The laptop's networks changed (the network monitor): re-checks the session's requested Plan
    /// against them and, when what a local network withdraws changed, brings the tunnel there; the
    /// MTU follows the underlay; the event and what was done are kept for `status` and told to
    /// subscribers. In order with Applies; no session lock across the reads and lookups.
    pub async fn network_changed(&self) {
        let _in_order = self.applying.lock().await;
        let disconnects = self.disconnects.load(Ordering::SeqCst);
        let (requested, own, withdrawn, endpoints) = {
            let slot = self.session.lock().await;
            let Some(s) = slot.as_ref() else { return };
            (
                s.requested.clone(),
                s.tunnel.name().to_owned(),
                s.withdrawn.clone(),
                crate::mtu::live_endpoints(s),
            )
        };
        let t0 = std::time::Instant::now();
        let local = read_local_networks(own).await;
        let wanted = if crate::lan_yield::differs(&requested, &withdrawn, &local) {
            match prepare_for(requested, &local, t0.elapsed(), RESOLVE_DEADLINE, &self.lookup).await {
                Ok(p) => Ok(p),
                Err(e) => {
                    tracing::warn!(error = %e.message, "after a network change the Plan no longer passes the policy; left as it was");
                    return;
                }
            }
        } else {
            // The ranges stay; the underlay's MTU may have moved.
            Err(crate::mtu::choose(requested.interface.mtu, endpoints).await)
        };
        let mut slot = self.session.lock().await;
        if self.disconnects.load(Ordering::SeqCst) != disconnects {
            return;
        }
        let Some(session) = slot.as_mut() else { return };
        if crate::network_event::follow(session, &self.state_file, local, wanted).await {
            self.publish_status(&mut slot).await;
        }
    }

    /// Answers one request of connection `connection` from `peer`.
    pub async fn handle(&self, connection: u64, peer: &PeerIdentity, request: Request) -> Response {
        match request {
            Request::Apply {
                plan,
                private_key,
                session,
            } => {
                let _in_order = self.applying.lock().await;
                let disconnects = self.disconnects.load(Ordering::SeqCst);
                let own = {
                    let slot = self.session.lock().await;
                    if let Err(e) = admit(&slot, peer.uid) {
                        return error(e.code, e.message);
                    }
                    slot.as_ref()
                        .map_or_else(|| plan.interface.name.clone(), |s| s.tunnel.name().to_owned())
                };
                // No lock held: names may take up to the deadline.
                let prepared = prepare(*plan, &private_key.0, own, RESOLVE_DEADLINE, &self.lookup).await;
                let mut slot = self.session.lock().await;
                let applied = match prepared {
                    Err(e) => Err(e),
                    Ok(_) if self.disconnects.load(Ordering::SeqCst) != disconnects => {
                        Err(ApplyError::failed(
                            "the tunnel was disconnected while this Plan's endpoint names were resolving; \
                         nothing was applied (run `kubewire connect` to connect again)",
                        ))
                    }
                    Ok(prepared) => {
                        let request = ApplyRequest {
                            prepared,
                            private_key,
                            info: session,
                            uid: peer.uid,
                            connection,
                        };
                        apply(&mut slot, &self.state_file, self.call_timeout, &self.dns, request).await
                    }
                };
                match applied {
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
                self.disconnects.fetch_add(1, Ordering::SeqCst);
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
        self.disconnects.fetch_add(1, Ordering::SeqCst);
        match self.take_down(&mut slot).await {
            Ok(()) => true,
            Err(message) => {
                tracing::error!(%message, "shutting down with leftovers");
                false
            }
        }
    }
}
