//! The daemon's shared state and its answers to requests. Sessions keyed by connection name (each its
//! own interface and ranges: [`crate::decide`]); every change to them happens under one lock, held only while the session changes: an Apply is prepared (policy,
//! endpoint names) before it takes the lock, so status, disconnect and SIGTERM never wait for a
//! lookup. Applies take a second lock for their whole length, so Plans apply in the order they
//! arrive; a disconnect while one is being prepared wins (that Plan is not applied afterwards).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kubewire_ipc::{Event, PeerIdentity, Request, Response, Status};
use kubewire_tunnel::Lookup;
use tokio::sync::{Mutex, broadcast};

use crate::apply::{ApplyRequest, apply};
use crate::decide::{Asks, admit};
use crate::dns::DnsOptions;
use crate::error::DaemonError;
use crate::persist::Journal;
use crate::prepare::{RESOLVE_DEADLINE, prepare, prepare_for, read_local_networks};
use crate::registry::Sessions;
use crate::session::now_secs;

pub struct Daemon {
    sessions: Mutex<Sessions>,
    /// Held by an Apply from its start to its end (not by status or disconnect).
    applying: Mutex<()>,
    /// Counts disconnects: an Apply prepared across one is dropped.
    disconnects: AtomicU64,
    /// How endpoint names are resolved.
    lookup: Lookup,
    events: broadcast::Sender<Event>,
    journal: Journal,
    call_timeout: Duration,
    dns: DnsOptions,
    next_connection: AtomicU64,
    /// The laptop's addresses as last read ([`crate::underlay`]).
    underlay: Mutex<Option<crate::underlay::Addresses>>,
    /// Where every connection's exposed ports are kept across restarts.
    exposed_file: crate::exposed_file::ExposedFile,
    /// What an earlier run exposed, for connections not brought back yet.
    remembered: std::sync::Mutex<crate::exposed_file::All>,
}

fn error(e: &DaemonError) -> Response {
    Response::Error {
        code: e.code(),
        message: e.to_string(),
    }
}

/// The status: every connection's in `connections` (by name), and the first one's fields at the
/// top (what a reader of one connection reads), reading live statistics under the backend timeout.
pub async fn status_of(sessions: &mut Sessions) -> Status {
    let mut all = Vec::new();
    for (_, session) in sessions.iter_mut() {
        let stats = session.tunnel.stats().await;
        all.push(session.status(stats.as_deref(), now_secs()));
    }
    let Some(first) = all.first() else {
        return Status::disconnected();
    };
    Status {
        connections: all.clone(),
        ..first.clone()
    }
}

/// The one connection a request without a name means: the only one up.
fn the_only(sessions: &Sessions) -> Result<String, DaemonError> {
    match sessions.names().as_slice() {
        [] => Err(DaemonError::NoSession),
        [one] => Ok(one.clone()),
        several => Err(DaemonError::WhichConnection { up: several.to_vec() }),
    }
}

impl Daemon {
    pub fn new(journal: Journal, call_timeout: Duration, dns: DnsOptions) -> Arc<Self> {
        let (events, _) = broadcast::channel(64);
        let exposed_file = crate::exposed_file::ExposedFile::new(
            journal
                .path()
                .parent()
                .unwrap_or_else(|| std::path::Path::new(".")),
        );
        Arc::new(Self {
            sessions: Mutex::new(Sessions::default()),
            applying: Mutex::new(()),
            disconnects: AtomicU64::new(0),
            lookup: kubewire_tunnel::system_lookup(),
            events,
            journal,
            call_timeout,
            dns,
            next_connection: AtomicU64::new(1),
            underlay: Mutex::new(None),
            remembered: std::sync::Mutex::new(exposed_file.read()),
            exposed_file,
        })
    }

    /// A connection an earlier run had exposed ports on is back (same name, same owner): they
    /// open again.
    async fn reopen_exposed(&self, slot: &mut Sessions, name: &str) {
        let Some(session) = slot.get_mut(name) else {
            return;
        };
        let Some(earlier) = self.remembered.lock().ok().and_then(|mut r| r.remove(name)) else {
            return;
        };
        if earlier.owner_uid != session.owner_uid
            || !session.exposed.is_empty()
            || session.inbound != crate::inbound::Filter::On
        {
            tracing::info!(connection = %name, "exposed ports of an earlier run not reopened (another owner, or no filter)");
            return;
        }
        match crate::inbound::install(session.tunnel.name(), &earlier.ports) {
            Ok(()) => {
                tracing::info!(connection = %name, ports = earlier.ports.len(), "exposed ports of an earlier run reopened");
                session.exposed = earlier.ports;
                crate::handshake_now::every_peer(session).await;
            }
            Err(e) => tracing::warn!(connection = %name, error = %e, "reopening exposed ports"),
        }
    }

    /// Writes what every connection exposes (and what earlier runs did, not back yet).
    fn save_exposed(&self, slot: &Sessions) {
        let Ok(remembered) = self.remembered.lock() else {
            return;
        };
        let mut all = remembered.clone();
        for (name, session) in slot.iter() {
            all.remove(name);
            if !session.exposed.is_empty() {
                all.insert(
                    name.clone(),
                    crate::exposed_file::Remembered {
                        owner_uid: session.owner_uid,
                        ports: session.exposed.clone(),
                    },
                );
            }
        }
        if let Err(e) = self.exposed_file.write(&all) {
            tracing::warn!(error = %e, "could not save the exposed ports (a restart would not reopen them)");
        }
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

    async fn publish_status(&self, slot: &mut Sessions) -> Status {
        let status = status_of(slot).await;
        self.publish(Event::Status {
            status: Box::new(status.clone()),
        });
        status
    }

    pub async fn current_status(&self) -> Status {
        let mut slot = self.sessions.lock().await;
        status_of(&mut slot).await
    }

    /// Live statistics for the periodic event, when a session is up.
    pub async fn peer_stats(&self) -> Option<Status> {
        let mut slot = self.sessions.lock().await;
        if slot.is_empty() {
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
        let (held, ours): (Vec<_>, Vec<String>) = {
            let slot = self.sessions.lock().await;
            let held = slot
                .iter()
                .map(|(name, s)| {
                    let own = s.tunnel.name().to_owned();
                    let endpoints = crate::mtu::live_endpoints(s);
                    (
                        name.clone(),
                        (s.requested.clone(), s.preshared_key.clone()),
                        own,
                        s.withdrawn.clone(),
                        endpoints,
                    )
                })
                .collect();
            (held, slot.interfaces())
        };
        for (name, (requested, preshared_key), own, withdrawn, endpoints) in held {
            let t0 = std::time::Instant::now();
            let (moves, arrived) = {
                let addresses = crate::underlay::read(Some(&own));
                let mut last = self.underlay.lock().await;
                let moves = last.as_ref().map_or((Vec::new(), false), |l| {
                    (
                        crate::underlay::moves(l, &addresses),
                        crate::underlay::arrived(l, &addresses),
                    )
                });
                *last = Some(addresses);
                moves
            };
            // Our own interfaces are not local networks (this one's first).
            let mut own_first = vec![own];
            own_first.extend(ours.iter().cloned());
            let local = read_local_networks(own_first).await;
            let wanted = if crate::lan_yield::differs(&requested, &withdrawn, &local) {
                match prepare_for(requested, &local, t0.elapsed(), RESOLVE_DEADLINE, &self.lookup).await {
                    Ok(mut p) => {
                        p.set_preshared_key(preshared_key);
                        Ok(p)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "after a network change the Plan no longer passes the policy; left as it was");
                        continue;
                    }
                }
            } else {
                // The ranges stay; the underlay's MTU may have moved.
                Err(crate::mtu::choose(requested.interface.mtu, endpoints).await)
            };
            let mut slot = self.sessions.lock().await;
            if self.disconnects.load(Ordering::SeqCst) != disconnects {
                return;
            }
            let Some(session) = slot.get_mut(&name) else {
                continue;
            };
            let journal = self.journal.session(&name);
            let followed = crate::network_event::follow(session, &journal, local, wanted).await;
            let moved = !moves.is_empty();
            if moved {
                crate::underlay::renew(session, moves, followed, arrived).await;
            }
            // Docker/Podman bridges that appeared or went: their containers' listeners follow.
            let containers = match session.dns.as_mut() {
                Some(dns) => dns.containers_changed().await,
                None => false,
            };
            if followed || moved || containers {
                self.publish_status(&mut slot).await;
            }
        }
    }

    /// The laptop resumed after about `away` (a sleep, a freeze): every peer's handshake starts
    /// over at once, and `status` says so. The controller, which notices the same, re-lists the
    /// cluster and sends its Plan again (endpoint names are resolved again then).
    pub async fn resumed(&self, away: Duration) {
        let _in_order = self.applying.lock().await;
        let mut slot = self.sessions.lock().await;
        let names: Vec<String> = slot.iter().map(|(name, _)| name.clone()).collect();
        if names.is_empty() {
            return;
        }
        for name in names {
            if let Some(session) = slot.get_mut(&name) {
                let what = format!("resumed after {}", kubewire_core::resume::away(away));
                crate::underlay::renew(session, vec![what], false, true).await;
            }
        }
        self.publish_status(&mut slot).await;
    }

    /// Answers one request of connection `connection` from `peer`.
    pub async fn handle(&self, connection: u64, peer: &PeerIdentity, request: Request) -> Response {
        match request {
            Request::Apply {
                plan,
                private_key,
                preshared_key,
                session,
            } => {
                let _in_order = self.applying.lock().await;
                let disconnects = self.disconnects.load(Ordering::SeqCst);
                let name = session.connection();
                let own = {
                    let slot = self.sessions.lock().await;
                    let asks = Asks {
                        interface: &plan.interface.name,
                        routes: &plan.routes,
                    };
                    if let Err(e) = admit(&slot.held(), &name, peer.uid, asks) {
                        tracing::warn!(uid = peer.uid, connection = %name, code = ?e.code(), reason = %e, "Plan not applied");
                        return error(&e);
                    }
                    let mut own = vec![
                        slot.get(&name)
                            .map_or_else(|| plan.interface.name.clone(), |s| s.tunnel.name().to_owned()),
                    ];
                    own.extend(slot.interfaces());
                    own
                };
                // No lock held: names may take up to the deadline.
                let keys = (
                    private_key.0.as_str(),
                    preshared_key.as_ref().map(|k| k.0.as_str()),
                );
                let prepared = prepare(*plan, keys, own, RESOLVE_DEADLINE, &self.lookup).await;
                let mut slot = self.sessions.lock().await;
                let request = ApplyRequest {
                    prepared,
                    private_key,
                    info: session,
                    uid: peer.uid,
                    connection,
                    disconnected_meanwhile: self.disconnects.load(Ordering::SeqCst) != disconnects,
                };
                match apply(&mut slot, &self.journal, self.call_timeout, &self.dns, request).await {
                    Ok(changes) => {
                        self.reopen_exposed(&mut slot, &name).await;
                        // The addresses a later move is compared with, from the first Plan on.
                        let mut underlay = self.underlay.lock().await;
                        if underlay.is_none() {
                            let own = slot.get(&name).map(|s| s.tunnel.name().to_owned());
                            *underlay = Some(crate::underlay::read(own.as_deref()));
                        }
                        drop(underlay);
                        let status = self.publish_status(&mut slot).await;
                        Response::Applied {
                            changes,
                            status: Box::new(status),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(uid = peer.uid, code = ?e.code(), reason = %e, "Plan not applied");
                        if !slot.is_empty() {
                            self.publish_status(&mut slot).await;
                        }
                        error(&e)
                    }
                }
            }
            Request::Disconnect { name } => {
                let mut slot = self.sessions.lock().await;
                let names = match &name {
                    None => slot.names(),
                    Some(n) if slot.get(n).is_some() => vec![n.clone()],
                    Some(n) => {
                        return error(&DaemonError::NoSuchConnection {
                            name: n.clone(),
                            up: slot.names(),
                        });
                    }
                };
                if let Some(session) = names
                    .iter()
                    .filter_map(|n| slot.get(n))
                    .find(|s| peer.uid != 0 && peer.uid != s.owner_uid)
                {
                    return error(&DaemonError::NotOwner {
                        owner: session.owner_uid,
                        action: "end it",
                    });
                }
                self.disconnects.fetch_add(1, Ordering::SeqCst);
                let taken = match &name {
                    None => self.take_down(&mut slot).await,
                    Some(n) => self.take_one(&mut slot, n).await,
                };
                if let Ok(mut remembered) = self.remembered.lock() {
                    for n in &names {
                        remembered.remove(n);
                    }
                }
                self.save_exposed(&slot);
                match taken {
                    Ok(()) => {
                        tracing::info!(uid = peer.uid, connections = %names.join(","), "disconnected");
                        self.publish_status(&mut slot).await;
                        Response::Disconnected
                    }
                    Err(e) => error(&e),
                }
            }
            Request::Status => {
                let mut slot = self.sessions.lock().await;
                Response::Status {
                    status: Box::new(status_of(&mut slot).await),
                }
            }
            Request::ShowConf { name } => {
                let slot = self.sessions.lock().await;
                let name = match name.map_or_else(|| the_only(&slot), Ok) {
                    Ok(n) => n,
                    Err(e) => return error(&e),
                };
                match slot.get(&name) {
                    None => error(&DaemonError::NoSuchConnection {
                        name,
                        up: slot.names(),
                    }),
                    Some(s) => Response::ShowConf {
                        text: kubewire_core::render::wg_quick::render(&s.plan, None),
                    },
                }
            }
            Request::Subscribe => Response::Subscribed,
            Request::Expose { name, port } => {
                self.exposure(peer, name, |exposed| crate::expose::add(exposed, port))
                    .await
            }
            Request::Unexpose { name, service } => {
                self.exposure(peer, name, |exposed| {
                    exposed.retain(|p| p.service != service);
                    Ok(())
                })
                .await
            }
        }
    }

    /// Changes connection `name`'s exposed ports with `change` and puts the inbound filter in line;
    /// the owner (or root) only. A filter that cannot be put in place changes nothing.
    async fn exposure(
        &self,
        peer: &PeerIdentity,
        name: Option<String>,
        change: impl FnOnce(&mut std::collections::BTreeSet<kubewire_ipc::ExposedPort>) -> Result<(), DaemonError>,
    ) -> Response {
        let _in_order = self.applying.lock().await;
        let mut slot = self.sessions.lock().await;
        let name = match name.map_or_else(|| the_only(&slot), Ok) {
            Ok(n) => n,
            Err(e) => return error(&e),
        };
        let up = slot.names();
        let Some(session) = slot.get_mut(&name) else {
            return error(&DaemonError::NoSuchConnection { name, up });
        };
        if peer.uid != 0 && peer.uid != session.owner_uid {
            return error(&DaemonError::NotOwner {
                owner: session.owner_uid,
                action: "change what it exposes",
            });
        }
        if let Some(why) = session.inbound.refusal() {
            return error(&DaemonError::Expose(why.to_owned()));
        }
        let mut next = session.exposed.clone();
        if let Err(e) = change(&mut next) {
            return error(&e);
        }
        if let Err(e) = crate::inbound::install(session.tunnel.name(), &next) {
            return error(&DaemonError::Expose(e.to_string()));
        }
        tracing::info!(uid = peer.uid, connection = %name, exposed = next.len(), "exposed ports changed");
        session.exposed = next;
        if !session.exposed.is_empty() {
            crate::handshake_now::every_peer(session).await;
        }
        let ports = session.exposed.iter().cloned().collect();
        self.save_exposed(&slot);
        self.publish_status(&mut slot).await;
        Response::Exposed { ports }
    }

    /// Removes every session's tunnel (routes, interface) and DNS, then the state file. On failure
    /// the state file stays, so the next start cleans up.
    async fn take_down(&self, slot: &mut Sessions) -> Result<(), DaemonError> {
        let all = slot.take_all();
        if all.is_empty() {
            // Nothing live; a state file of a failed earlier removal may remain: remove what it
            // names, not just the file.
            return crate::restore::clear_leftover(&self.journal, &[]).await;
        }
        let mut failed = None;
        for (name, session) in all {
            match crate::teardown::remove(session).await {
                Ok(()) => {
                    if let Err(e) = self.journal.forget(&name) {
                        failed.get_or_insert(e.into());
                    }
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Removes connection `name`'s tunnel and DNS, then its entry in the state file (kept when the
    /// removal failed, so the next start cleans up). The other connections stay as they are.
    async fn take_one(&self, slot: &mut Sessions, name: &str) -> Result<(), DaemonError> {
        let Some(session) = slot.take(name) else {
            return Err(DaemonError::NoSuchConnection {
                name: name.to_owned(),
                up: slot.names(),
            });
        };
        crate::teardown::remove(session).await?;
        Ok(self.journal.forget(name)?)
    }

    /// A connection closed: if it was the controller, the tunnel stays with its last Plan.
    pub async fn connection_closed(&self, connection: u64) {
        let mut slot = self.sessions.lock().await;
        let now = now_secs();
        let mut lost = false;
        for (_, session) in slot.iter_mut() {
            if session.controller.connection_closed(connection, now) {
                tracing::warn!(
                    interface = %session.tunnel.name(),
                    "the controller disconnected; the tunnel stays up with its last Plan and is no longer updated"
                );
                lost = true;
            }
        }
        if lost {
            self.publish_status(&mut slot).await;
        }
    }

    /// True when the session's BoringTun stopped by itself: it caught a SIGTERM/SIGINT meant for
    /// the daemon. Never waits for an apply under way.
    pub fn backend_took_a_signal(&self) -> bool {
        self.sessions
            .try_lock()
            .is_ok_and(|slot| slot.iter().any(|(_, s)| !s.tunnel.backend_alive()))
    }

    /// Removes everything (SIGTERM / SIGINT). `true` when all was removed.
    pub async fn shutdown(&self) -> bool {
        let mut slot = self.sessions.lock().await;
        self.disconnects.fetch_add(1, Ordering::SeqCst);
        match self.take_down(&mut slot).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "shutting down with leftovers");
                false
            }
        }
    }
}
