//! Applying a Plan: [`crate::decide`] says what to do (create, re-create, update, refuse) from the
//! sessions held and the daemon's own check of the Plan; this brings the tunnel there by its
//! difference, journaled ([`Journal`]: the state file names every change before it is made).
//! Nothing changes when the Plan is refused.

use std::time::{Duration, Instant};

use kubewire_core::Plan;
use kubewire_ipc::{Changes, SecretKey, SessionInfo};
use kubewire_tunnel::{Applied, Config, InterfaceSpec};

use crate::change::journaled_change;
use crate::create::{NewSession, create, retire};
use crate::decide::{Asks, Request, Transition, Wanted, decide};
use crate::dns::DnsOptions;
use crate::error::DaemonError;
use crate::persist::{Journal, State};
use crate::prepare::Prepared;
use crate::registry::Sessions;
use crate::session::{Controller, Session, now_secs};

/// The interface a Plan asks for, at the MTU chosen for it ([`crate::mtu`]).
pub fn spec_of(plan: &Plan, mtu: u16) -> InterfaceSpec {
    InterfaceSpec {
        name: plan.interface.name.clone(),
        address: plan.interface.address,
        mtu,
        listen_port: plan.interface.listen_port,
    }
}

/// What one client asks, with the daemon's own check of its Plan ([`crate::prepare`]).
pub struct ApplyRequest {
    /// The Plan checked and resolved, or why it is refused.
    pub prepared: Result<Prepared, DaemonError>,
    pub private_key: SecretKey,
    /// Its `context` names the connection.
    pub info: SessionInfo,
    pub uid: u32,
    pub connection: u64,
    /// A disconnect came while the Plan was being prepared.
    pub disconnected_meanwhile: bool,
}

/// What [`decide`] makes of the request, with its checked Plan; `Err`: refused, nothing changes.
fn decided(
    sessions: &Sessions,
    name: &str,
    uid: u32,
    prepared: Result<Prepared, DaemonError>,
    disconnected_meanwhile: bool,
) -> Result<(Transition, Prepared), DaemonError> {
    // What it asks of the machine that another connection may hold (nothing when refused anyway).
    let asked = prepared.as_ref().map_or_else(
        |_| (String::new(), Vec::new()),
        |p| (p.requested.interface.name.clone(), p.requested.routes.clone()),
    );
    let asks = Asks {
        interface: &asked.0,
        routes: &asked.1,
    };
    let (prepared, checked) = match prepared {
        Ok(p) => {
            let wanted = Wanted {
                spec: spec_of(&p.plan, p.mtu.mtu),
                public_key: p.plan.interface.public_key,
            };
            (Some(p), Ok(wanted))
        }
        Err(e) => (None, Err(e)),
    };
    let request = Request {
        name,
        uid,
        asks,
        checked,
        disconnected_meanwhile,
    };
    match (decide(&sessions.held(), request), prepared) {
        (Transition::Refuse(e), _) => Err(e),
        (t, Some(p)) => Ok((t, p)),
        (_, None) => Err(DaemonError::Internal("a refused Plan was not refused")),
    }
}

fn log_applied(interface: &str, changes: &Changes, timings: [Duration; 3], started: Instant, t0: Instant) {
    let [t_local, t_policy, t_resolve] = timings;
    tracing::info!(
        interface = %interface,
        peers_added = changes.peers_added.len(),
        peers_removed = changes.peers_removed.len(),
        routes_added = changes.routes_added.len(),
        routes_removed = changes.routes_removed.len(),
        local_networks_ms = t_local.as_millis() as u64,
        policy_ms = t_policy.as_millis() as u64,
        resolve_ms = t_resolve.as_millis() as u64,
        tunnel_ms = started.elapsed().as_millis() as u64,
        total_ms = (t_local + t_policy + t_resolve + t0.elapsed()).as_millis() as u64,
        "Plan applied"
    );
}

/// Applies `request` to the session it names (creating it on the first Plan).
pub async fn apply(
    sessions: &mut Sessions,
    journal: &Journal,
    call_timeout: Duration,
    dns: &DnsOptions,
    mut request: ApplyRequest,
) -> Result<Changes, DaemonError> {
    let t0 = Instant::now();
    let name = request.info.connection();
    request.info.name.clone_from(&name);
    let journal = &journal.session(&name);
    let (transition, prepared) = decided(
        sessions,
        &name,
        request.uid,
        request.prepared,
        request.disconnected_meanwhile,
    )?;
    let spec = spec_of(&prepared.plan, prepared.mtu.mtu);
    let now = now_secs();
    let kept = match transition {
        Transition::Recreate => match sessions.take(&name) {
            Some(old) => Some(retire(old).await),
            None => None,
        },
        _ => None,
    };
    let created = !matches!(transition, Transition::Update);
    if created {
        let held = sessions.names();
        let session = create(
            journal,
            call_timeout,
            NewSession {
                spec: &spec,
                key: &request.private_key,
                routes: &prepared.config.routes,
                plan: &prepared.plan,
                requested: &prepared.requested,
                mtu: prepared.mtu,
                info: &request.info,
                uid: request.uid,
                connection: request.connection,
                kept,
                held,
                now,
            },
        )
        .await?;
        sessions.insert(name.clone(), session);
    }
    // One connection's split DNS at a time for now: the OS's resolver settings (resolv.conf, its
    // backup) are one per machine.
    let dns_elsewhere = sessions
        .iter()
        .find(|(n, s)| **n != name && s.dns.is_some())
        .map(|(n, _)| n.clone());
    let Some(session) = sessions.get_mut(&name) else {
        return Err(DaemonError::Internal("no session after creating it"));
    };
    let started = Instant::now();
    crate::mtu::follow(session, prepared.mtu).await;
    let (applied, live) = apply_journaled(session, journal, &prepared.config).await?;
    for key in &applied.peers_removed {
        session.peer_added_at.remove(key);
    }
    for key in &applied.peers_added {
        session.peer_added_at.insert(*key, now);
    }
    // Peers an update adds (a node that joins or moves) handshake at once. Not on a new session:
    // its Peer was registered a moment ago, and a node that has not configured it yet drops the
    // initiation, after which WireGuard waits 5 s before trying again: the user's first packet,
    // a little later, does better.
    if !created {
        let added = applied
            .peers_added
            .iter()
            .filter_map(|k| prepared.config.peers.get(k));
        let routes: Vec<_> = prepared.config.routes.iter().copied().collect();
        crate::handshake_now::start(&crate::handshake_now::targets(added, &routes)).await;
    }
    let changes = crate::changes::describe(applied, &session.plan, &prepared.plan, created);
    log_applied(session.tunnel.name(), &changes, prepared.timings, started, t0);
    session.plan = prepared.plan;
    session.requested = prepared.requested;
    session.withdrawn = prepared.withdrawn;
    session.local = prepared.local;
    session.info = request.info;
    session.controller = Controller::Attached(request.connection);
    session.last_update = now;
    session.apply_warnings = prepared.warnings;
    session.preshared_key = prepared.preshared_key;
    crate::dns_sync::sync_dns(session, journal, dns, &live, dns_elsewhere.as_deref()).await;
    Ok(changes)
}

/// Brings the session's tunnel to `config`, journaled ([`journaled_change`]), keeping the split
/// DNS's state in the file. Returns what changed and the live state (without DNS).
pub async fn apply_journaled(
    session: &mut Session,
    journal: &Journal,
    config: &Config,
) -> Result<(Applied, State), DaemonError> {
    let dns = session.dns.as_ref().map(|d| d.state().clone());
    journaled_change(&mut session.tunnel, journal, config, dns).await
}
