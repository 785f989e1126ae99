//! Bringing a session's interface up, and down again for a re-create. Journaled: before an
//! interface is created the state file names it and its routes; a failed create leaves no file.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::Plan;
use kubewire_ipc::{SecretKey, SessionInfo};
use kubewire_tunnel::{InterfaceSpec, PrivateKeyText, Tunnel};

use crate::change::journaled_create;
use crate::error::DaemonError;
use crate::persist::Journal;
use crate::session::{Controller, Session};

/// What a re-created session keeps of the one it replaces.
pub struct Kept {
    pub owner_uid: u32,
    pub connected_since: u64,
    pub exposed: std::collections::BTreeSet<kubewire_ipc::ExposedPort>,
}

/// Stops the DNS of `old` and removes its interface, for a re-create. A removal that fails is not
/// forgotten: the state file still names the interface, and [`create`] removes it first.
pub async fn retire(mut old: Session) -> Kept {
    tracing::info!(interface = %old.tunnel.name(), "interface settings changed: re-creating the interface");
    if let Some(d) = old.dns.take()
        && let Err(e) = d.stop().await
    {
        tracing::warn!(error = %e, "stopping DNS of the previous interface");
    }
    let name = old.tunnel.name().to_owned();
    if let Err(err) = old.tunnel.remove().await {
        tracing::warn!(error = %err, "removing the previous interface; retrying");
    }
    if let Err(err) = crate::inbound::remove(&name) {
        tracing::warn!(error = %err, interface = %name, "removing the previous interface's inbound filter");
    }
    Kept {
        owner_uid: old.owner_uid,
        connected_since: old.connected_since,
        exposed: old.exposed,
    }
}

/// What a new session starts from.
pub struct NewSession<'a> {
    pub spec: &'a InterfaceSpec,
    pub key: &'a SecretKey,
    pub routes: &'a BTreeSet<IpNet>,
    pub plan: &'a Plan,
    pub requested: &'a Plan,
    /// The MTU `spec` carries, and why.
    pub mtu: kubewire_core::mtu::TunnelMtu,
    pub info: &'a SessionInfo,
    /// The caller's uid and connection; what a re-create keeps instead.
    pub uid: u32,
    pub connection: u64,
    pub kept: Option<Kept>,
    /// The connections up now (their entries in the state file are theirs, not leftovers).
    pub held: Vec<String>,
    pub now: u64,
}

/// Creates the interface of a new session (no peers yet: the apply that follows adds them).
pub async fn create(
    journal: &Journal,
    call_timeout: Duration,
    new: NewSession<'_>,
) -> Result<Session, DaemonError> {
    // A leftover of a failed removal is removed first, or nothing new is created.
    crate::restore::clear_leftover(journal, &new.held)
        .await
        .map_err(|e| DaemonError::NothingCreated(Box::new(e)))?;
    // Closed to the cluster before the interface exists: no moment with every port open. Kept
    // across a re-create (the interface name may change with it).
    let exposed = new.kept.as_ref().map(|k| k.exposed.clone()).unwrap_or_default();
    let inbound = crate::inbound::Filter::from_install(crate::inbound::install(&new.spec.name, &exposed));
    let key = PrivateKeyText(new.key.0.clone());
    let tunnel = journaled_create(
        journal,
        new.spec,
        new.routes.iter().copied(),
        Tunnel::create(new.spec, &key, call_timeout),
    )
    .await
    .inspect_err(|_| {
        let _ = crate::inbound::remove(&new.spec.name);
    })?;
    let kept = new.kept.unwrap_or(Kept {
        owner_uid: new.uid,
        connected_since: new.now,
        exposed: std::collections::BTreeSet::new(),
    });
    Ok(Session {
        owner_uid: kept.owner_uid,
        info: new.info.clone(),
        plan: new.plan.clone(),
        requested: new.requested.clone(),
        withdrawn: Vec::new(),
        tunnel,
        mtu: new.mtu,
        local: Vec::new(),
        network_event: None,
        controller: Controller::Attached(new.connection),
        connected_since: kept.connected_since,
        last_update: new.now,
        apply_warnings: Vec::new(),
        peer_added_at: HashMap::new(),
        dns: None,
        dns_warnings: Vec::new(),
        preshared_key: None,
        exposed,
        inbound,
    })
}
