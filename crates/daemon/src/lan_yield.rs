//! The LAN wins, per range, at any time: every Plan, and after every network change the session's
//! requested Plan, is checked against the networks now present ([`kubewire_core::lan_yield`]); the
//! tunnel follows when what is withdrawn changed. Nothing else of the session moves.

use kubewire_core::Plan;
use kubewire_core::lan_yield::{LocalNetwork, Withdrawn, yield_to_local};

use crate::apply::apply_journaled;
use crate::error::DaemonError;
use crate::persist::Journal;
use crate::policy::check_policy;
use crate::prepare::Prepared;
use crate::session::Session;

/// The Plan to run given the local networks, and what they withdraw; `Err` when the daemon's
/// policy refuses the rest.
pub fn live_plan(requested: &Plan, local: &[LocalNetwork]) -> Result<(Plan, Vec<Withdrawn>), DaemonError> {
    let (yielded, withdrawn) = yield_to_local(requested, local);
    let nets: Vec<ipnet::IpNet> = local.iter().map(|l| l.net).collect();
    let checked = check_policy(yielded, &nets)?;
    Ok((checked, withdrawn))
}

/// Whether `local` withdraws something else than the session's current list (cheap: no I/O).
/// Also when a range the user prefers over a LAN ([`kubewire_core::prefer_tunnel`]) meets a local
/// network: its kernel routes may have to be split again.
pub fn differs(requested: &Plan, current: &[Withdrawn], local: &[LocalNetwork]) -> bool {
    let prefer = &requested.policy.prefer_tunnel;
    let meets_preferred = local
        .iter()
        .any(|l| prefer.iter().any(|p| kubewire_core::cidr::overlaps(p, &l.net)));
    meets_preferred || yield_to_local(requested, local).1 != current
}

/// Brings the session's tunnel to `prepared` (the requested Plan re-checked after a network
/// change); `true` when the tunnel changed.
pub async fn follow(session: &mut Session, journal: &Journal, prepared: Prepared) -> bool {
    if prepared.withdrawn == session.withdrawn && prepared.config.routes == session.tunnel.live().routes {
        return false;
    }
    for w in prepared
        .withdrawn
        .iter()
        .filter(|w| !session.withdrawn.contains(w))
    {
        tracing::warn!(range = %w.range, peer = %w.peer, local = %w.local, interface = ?w.interface, "a local network now overlaps a cluster range: withdrawn from the tunnel");
    }
    for w in session
        .withdrawn
        .iter()
        .filter(|w| !prepared.withdrawn.iter().any(|n| n.range == w.range))
    {
        tracing::info!(range = %w.range, peer = %w.peer, "the overlap is gone: the range is routed into the tunnel again");
    }
    let name = session.tunnel.name().to_owned();
    match apply_journaled(session, journal, &prepared.config).await {
        Ok((applied, _live)) => {
            tracing::info!(
                interface = %name,
                routes_added = applied.routes_added.len(),
                routes_removed = applied.routes_removed.len(),
                withdrawn = prepared.withdrawn.len(),
                "followed a network change"
            );
            session.plan = prepared.plan;
            session.withdrawn = prepared.withdrawn;
            session.apply_warnings = prepared.warnings;
            true
        }
        Err(e) => {
            tracing::warn!(interface = %name, error = %e, "following a network change failed");
            false
        }
    }
}
