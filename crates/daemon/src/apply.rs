//! Applying a Plan: re-check it with the core's policy against this machine's networks (the daemon
//! trusts no client), then bring the tunnel to it by its difference. Nothing changes when the Plan is
//! refused. The state file is written before every change.

use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::{Plan, policy};
use kubewire_ipc::{Changes, ErrorCode, SecretKey, SessionInfo};
use kubewire_tunnel::{Applied, Config, InterfaceSpec, PrivateKeyText, Tunnel};

use crate::dns::{DnsOptions, DnsSession};
use crate::persist::{State, StateFile};
use crate::prepare::Prepared;
use crate::session::{Session, now_secs};

/// A failed apply, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApplyError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Failed,
            message: message.into(),
        }
    }
}

/// The Plan after the daemon's own check (the core's [`policy::check_received`]: shape, laptop
/// address, interface name, allow-list, ranges, DNS fields, report sizes), or why it is refused as a
/// whole. Any range the check refuses beyond what the Plan already reports (a default route, a public
/// range outside the allow-list, the laptop's own network…) refuses the whole Plan: nothing is applied.
pub fn check_policy(plan: Plan, local_networks: &[IpNet]) -> Result<Plan, ApplyError> {
    policy::check_received(plan, local_networks).map_err(|e| {
        tracing::warn!(error = %e, "Plan refused");
        ApplyError {
            code: ErrorCode::PlanRefused,
            message: format!("the Plan was refused, nothing was changed: {e}"),
        }
    })
}

fn spec_of(plan: &Plan, mtu: u16) -> InterfaceSpec {
    InterfaceSpec {
        name: plan.interface.name.clone(),
        address: plan.interface.address,
        mtu,
        listen_port: plan.interface.listen_port,
    }
}

/// What one client asks, checked and resolved ([`crate::prepare`]).
pub struct ApplyRequest {
    pub prepared: Prepared,
    pub private_key: SecretKey,
    pub info: SessionInfo,
    pub uid: u32,
    pub connection: u64,
}

/// Whether `uid` may change the session in `slot` now (checked before the Plan is prepared and
/// again under the lock).
pub fn admit(slot: &Option<Session>, uid: u32) -> Result<(), ApplyError> {
    if let Some(session) = slot.as_ref()
        && uid != 0
        && uid != session.owner_uid
    {
        return Err(ApplyError {
            code: ErrorCode::NotOwner,
            message: format!(
                "the tunnel belongs to uid {}; only that user or root may change it",
                session.owner_uid
            ),
        });
    }
    if let Some(session) = slot.as_ref()
        && session.tunnel.is_wedged()
    {
        // BoringTun wedges for good (its threads hold the device); only a new process frees it.
        return Err(ApplyError::failed(format!(
            "{}: {}",
            session.tunnel.name(),
            kubewire_tunnel::TunnelError::Wedged
        )));
    }
    Ok(())
}

/// Applies `request` to the session in `slot` (creating it on the first Plan).
pub async fn apply(
    slot: &mut Option<Session>,
    state_file: &StateFile,
    call_timeout: Duration,
    dns: &DnsOptions,
    request: ApplyRequest,
) -> Result<Changes, ApplyError> {
    admit(slot, request.uid)?;
    let t0 = std::time::Instant::now();
    let Prepared {
        plan,
        requested,
        withdrawn,
        config,
        local,
        mtu,
        warnings,
        timings: [t_local, t_policy, t_resolve],
    } = request.prepared;
    let spec = spec_of(&plan, mtu.mtu);
    let mut changes = Changes::default();

    // A different interface (name, address, key) means a new interface; peers never do, nor does
    // the MTU (set in place below).
    let recreate = slot.as_ref().is_some_and(|s| {
        s.tunnel.spec() != &spec_of(&plan, s.tunnel.spec().mtu)
            || s.plan.interface.public_key != plan.interface.public_key
            || s.tunnel.is_wedged()
    });
    let mut previous = None;
    if recreate && let Some(mut old) = slot.take() {
        tracing::info!(interface = %old.tunnel.name(), "interface settings changed: re-creating the interface");
        let keep = (old.owner_uid, old.connected_since, old.info.clone());
        if let Some(d) = old.dns.take()
            && let Err(e) = d.stop().await
        {
            tracing::warn!(error = %e, "stopping DNS of the previous interface");
        }
        if let Err(err) = old.tunnel.remove().await {
            // Not forgotten: the state file still names it, and is cleared below (retried).
            tracing::warn!(error = %err, "removing the previous interface; retrying");
        }
        previous = Some(keep);
    }

    let now = now_secs();
    if slot.is_none() {
        // A leftover of a failed removal is removed first, or nothing new is created.
        crate::restore::clear_leftover(state_file).await.map_err(|e| {
            ApplyError::failed(format!(
                "{e}; nothing new was created (restart kubewired to clean up: sudo systemctl restart kubewired)"
            ))
        })?;
        state_file
            .write(&State::new(&spec.name, None, config.routes.iter().copied()))
            .map_err(|e| ApplyError::failed(e.to_string()))?;
        let key = PrivateKeyText(request.private_key.0.clone());
        let tunnel = match Tunnel::create(&spec, &key, call_timeout).await {
            Ok(t) => t,
            Err(err) => {
                let _ = state_file.remove();
                return Err(ApplyError::failed(format!(
                    "creating the interface {}: {err}",
                    spec.name
                )));
            }
        };
        changes.interface_created = true;
        let (owner_uid, connected_since) = previous
            .as_ref()
            .map_or((request.uid, now), |(uid, since, _)| (*uid, *since));
        *slot = Some(Session {
            owner_uid,
            info: request.info.clone(),
            plan: plan.clone(),
            requested: requested.clone(),
            withdrawn: Vec::new(),
            tunnel,
            mtu,
            local: Vec::new(),
            network_event: None,
            controller: Some(request.connection),
            controller_lost_at: None,
            connected_since,
            last_update: now,
            apply_warnings: Vec::new(),
            peer_added_at: std::collections::HashMap::new(),
            dns: None,
            dns_warnings: Vec::new(),
        });
    }
    let Some(session) = slot.as_mut() else {
        return Err(ApplyError::failed(
            "no session after creating it (internal error)",
        ));
    };
    let name = session.tunnel.name().to_owned();
    let started = std::time::Instant::now();
    crate::mtu::follow(session, mtu).await;
    let (applied, live) = apply_journaled(session, state_file, &config).await?;
    let names = |keys: &[kubewire_core::PublicKey], plan: &Plan| -> Vec<String> {
        keys.iter()
            .map(|k| {
                plan.peers
                    .iter()
                    .find(|p| p.public_key == *k)
                    .map_or_else(|| k.to_string(), |p| p.name.clone())
            })
            .collect()
    };
    changes.peers_removed = names(&applied.peers_removed, &session.plan);
    changes.peers_added = names(&applied.peers_added, &plan);
    for key in &applied.peers_removed {
        session.peer_added_at.remove(key);
    }
    for key in &applied.peers_added {
        session.peer_added_at.insert(*key, now);
    }
    // In the Plan's order, the way the user reads them.
    let rank = |p: &Plan, name: &String| p.peers.iter().position(|e| &e.name == name);
    changes.peers_removed.sort_by_key(|n| rank(&session.plan, n));
    changes.peers_added.sort_by_key(|n| rank(&plan, n));
    changes.routes_added = applied.routes_added;
    changes.routes_removed = applied.routes_removed;
    tracing::info!(
        interface = %name,
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
    session.plan = plan;
    session.requested = requested;
    session.withdrawn = withdrawn;
    session.local = local;
    session.info = request.info;
    session.controller = Some(request.connection);
    session.controller_lost_at = None;
    session.last_update = now;
    session.apply_warnings = warnings;
    sync_dns(session, state_file, dns, &live).await;
    Ok(changes)
}

/// Brings the session's tunnel to `config`, journaled: before the change the state file names the
/// live routes and the wanted ones (a crash in between leaves nothing unnamed), after it what is live,
/// whatever happened. Returns what changed and the live state (without DNS).
pub async fn apply_journaled(
    session: &mut Session,
    state_file: &StateFile,
    config: &Config,
) -> Result<(Applied, State), ApplyError> {
    let name = session.tunnel.name().to_owned();
    let backend = session.tunnel.backend().to_string();
    let superset = session
        .tunnel
        .live()
        .routes
        .iter()
        .chain(config.routes.iter())
        .copied()
        .collect::<Vec<_>>();
    let dns_state = session.dns.as_ref().map(|d| d.state().clone());
    state_file
        .write(&State::new(&name, Some(&backend), superset).with_dns(dns_state.clone()))
        .map_err(|e| ApplyError::failed(e.to_string()))?;
    let result = session.tunnel.apply(config).await;
    // Record what is live now, whatever happened.
    let live = State::new(
        &name,
        Some(&backend),
        session.tunnel.live().routes.iter().copied(),
    );
    let _ = state_file.write(&live.clone().with_dns(dns_state));
    let applied = result.map_err(|e| ApplyError::failed(format!("applying the Plan to {name}: {e}")))?;
    Ok((applied, live))
}

/// Brings the split DNS to the session's Plan: started on the first Plan with a cluster DNS server
/// (again after a failed start), updated on later ones, stopped when the Plan has none. Failures
/// become warnings: the tunnel is up and works by IP.
async fn sync_dns(session: &mut Session, state_file: &StateFile, options: &DnsOptions, base: &State) {
    let wanted = session.plan.dns.server.is_some();
    let result = match session.dns.as_mut() {
        Some(running) if wanted => running.update(&session.plan).await,
        Some(_) => match session.dns.take() {
            Some(running) => {
                let stopped = running.stop().await;
                if stopped.is_ok() {
                    let _ = state_file.write(base);
                }
                stopped
            }
            None => Ok(()),
        },
        None if wanted => match DnsSession::start(options, &session.plan, state_file, base).await {
            Ok(started) => {
                session.dns = Some(started);
                Ok(())
            }
            Err(e) => Err(e),
        },
        None => Ok(()),
    };
    session.dns_warnings = match result {
        Ok(()) => Vec::new(),
        Err(e) => {
            tracing::warn!(interface = %session.tunnel.name(), error = %e, "split DNS failed; the tunnel works by IP");
            vec![format!("cluster names do not resolve on this machine: {e}")]
        }
    };
}

#[cfg(test)]
pub(crate) mod tests {
    use kubewire_core::Endpoint;
    use kubewire_core::plan::{ClusterSummary, Dns, Interface, PeerEntry, PeerKind};

    use super::*;

    pub(crate) fn plan(peers: &[(&str, &str, &[&str])]) -> Plan {
        Plan {
            version: kubewire_core::plan::PLAN_VERSION,
            interface: Interface {
                name: "kwdtest0".into(),
                address: "10.4.0.100/32".parse().unwrap(),
                public_key: kubewire_core::PublicKey::from_bytes([9; 32]),
                mtu: Some(1420),
                listen_port: None,
            },
            peers: peers
                .iter()
                .enumerate()
                .map(|(i, (name, endpoint, ips))| PeerEntry {
                    name: (*name).into(),
                    kind: PeerKind::KiloPeer,
                    public_key: kubewire_core::PublicKey::from_bytes([i as u8 + 1; 32]),
                    endpoint: Some(endpoint.parse::<Endpoint>().unwrap()),
                    allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
                    persistent_keepalive: 25,
                })
                .collect(),
            routes: peers
                .iter()
                .flat_map(|(_, _, ips)| ips.iter().map(|s| s.parse().unwrap()))
                .collect(),
            dns: Dns {
                zone: "cluster.local".into(),
                server: None,
                search: vec![],
                namespaces: None,
            },
            service_gateway: None,
            cluster: ClusterSummary {
                granularity: kubewire_core::Granularity::Location,
                subnet: "10.4.0.0/16".parse().unwrap(),
                nodes: 1,
                ready_nodes: 1,
                now: 0,
            },
            refused: vec![],
            skipped: vec![],
            diagnostics: vec![],
            policy: Default::default(),
        }
    }

    #[test]
    fn a_clean_plan_passes_unchanged() {
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.4.0.1/32", "10.42.0.0/24"])]);
        let local: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(check_policy(p.clone(), &local).unwrap(), p);
    }

    #[test]
    fn a_default_route_refuses_the_whole_plan_with_the_reason() {
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.42.0.0/24", "0.0.0.0/0"])]);
        let err = check_policy(p, &[]).unwrap_err();
        assert_eq!(err.code, ErrorCode::PlanRefused);
        assert!(err.message.contains("0.0.0.0/0"), "{}", err.message);
        assert!(err.message.contains("default route"), "{}", err.message);
    }

    #[test]
    fn the_laptops_own_network_and_too_broad_ranges_are_refused() {
        let local: Vec<IpNet> = vec!["192.168.1.0/24".parse().unwrap()];
        let p = plan(&[("aws", "192.0.2.10:51820", &["192.168.0.0/16"])]);
        let err = check_policy(p, &local).unwrap_err();
        assert_eq!(err.code, ErrorCode::PlanRefused);
        assert!(
            err.message.contains("overlaps the local network 192.168.1.0/24"),
            "{}",
            err.message
        );
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.0.0.0/7"])]);
        assert_eq!(check_policy(p, &[]).unwrap_err().code, ErrorCode::PlanRefused);
    }

    #[test]
    fn a_malformed_plan_is_refused() {
        let mut p = plan(&[("aws", "192.0.2.10:51820", &["10.42.0.0/24"])]);
        p.interface.address = "10.4.0.0/24".parse().unwrap();
        let err = check_policy(p, &[]).unwrap_err();
        assert_eq!(err.code, ErrorCode::PlanRefused);
        assert!(err.message.contains("not a single address"), "{}", err.message);
    }
}
