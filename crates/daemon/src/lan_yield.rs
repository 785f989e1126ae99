//! The LAN wins, per range, at any time: after a network change the session's requested Plan is
//! re-checked against the networks now present ([`kubewire_core::lan_yield`]), and the tunnel is
//! brought to the result when what is withdrawn changed. Nothing else of the session moves.

use std::time::Duration;

use kubewire_core::Plan;
use kubewire_core::lan_yield::{LocalNetwork, Withdrawn, yield_to_local};
use kubewire_tunnel::resolve_plan;

use crate::apply::{ApplyError, check_policy};
use crate::local_networks;
use crate::persist::{State, StateFile};
use crate::session::Session;

/// How long a DNS name of an endpoint may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The Plan to run given the local networks, and what they withdraw; `Err` when the daemon's
/// policy refuses the rest.
pub fn live_plan(requested: &Plan, local: &[LocalNetwork]) -> Result<(Plan, Vec<Withdrawn>), ApplyError> {
    let (yielded, withdrawn) = yield_to_local(requested, local);
    let nets: Vec<ipnet::IpNet> = local.iter().map(|l| l.net).collect();
    let checked = check_policy(yielded, &nets)?;
    Ok((checked, withdrawn))
}

/// Re-checks `session` against the networks now present; `true` when the tunnel changed.
pub async fn recheck(session: &mut Session, state_file: &StateFile) -> bool {
    let own = session.tunnel.name().to_owned();
    let local = local_networks::read_named(Some(&own));
    let (plan, withdrawn) = match live_plan(&session.requested, &local) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e.message, "after a network change the Plan no longer passes the policy; left as it was");
            return false;
        }
    };
    if withdrawn == session.withdrawn {
        return false;
    }
    for w in withdrawn.iter().filter(|w| !session.withdrawn.contains(w)) {
        tracing::warn!(range = %w.range, peer = %w.peer, local = %w.local, interface = ?w.interface, "a local network now overlaps a cluster range: withdrawn from the tunnel");
    }
    for w in session
        .withdrawn
        .iter()
        .filter(|w| !withdrawn.iter().any(|n| n.range == w.range))
    {
        tracing::info!(range = %w.range, peer = %w.peer, "the overlap is gone: the range is routed into the tunnel again");
    }
    let resolved = resolve_plan(&plan, RESOLVE_TIMEOUT).await;
    let name = own;
    let backend = session.tunnel.backend().to_string();
    let dns_state = session.dns.as_ref().map(|d| d.state().clone());
    let superset = session
        .tunnel
        .live()
        .routes
        .iter()
        .chain(resolved.config.routes.iter())
        .copied()
        .collect::<Vec<_>>();
    if let Err(e) = state_file.write(&State::new(&name, Some(&backend), superset).with_dns(dns_state.clone()))
    {
        tracing::warn!(error = %e, "state file not written; the tunnel is left as it was");
        return false;
    }
    let result = session.tunnel.apply(&resolved.config).await;
    let live = State::new(
        &name,
        Some(&backend),
        session.tunnel.live().routes.iter().copied(),
    );
    let _ = state_file.write(&live.with_dns(dns_state));
    match result {
        Ok(applied) => {
            tracing::info!(
                interface = %name,
                routes_added = applied.routes_added.len(),
                routes_removed = applied.routes_removed.len(),
                withdrawn = withdrawn.len(),
                "followed a network change"
            );
            session.plan = plan;
            session.withdrawn = withdrawn;
            session.apply_warnings = resolved.warnings;
            true
        }
        Err(e) => {
            tracing::warn!(interface = %name, error = %e, "following a network change failed");
            false
        }
    }
}
