//! Following one network change: the ranges a local network withdraws ([`crate::lan_yield`]), the
//! MTU ([`crate::mtu`]), and the record of what changed and what was done
//! ([`kubewire_core::network_event`]) that `status` and the tray show.

use kubewire_core::lan_yield::LocalNetwork;
use kubewire_core::mtu::TunnelMtu;
use kubewire_core::network_event::NetworkEvent;

use crate::persist::Journal;
use crate::prepare::Prepared;
use crate::session::{Session, now_secs};

/// Brings the session to the networks `local`: `Ok(prepared)` when what they withdraw changed (the
/// requested Plan prepared again), `Err(mtu)` when only the MTU may have moved. Records the event
/// when a network appeared or went or the tunnel changed; `true` then (tell subscribers).
pub async fn follow(
    session: &mut Session,
    journal: &Journal,
    local: Vec<LocalNetwork>,
    wanted: Result<Prepared, TunnelMtu>,
) -> bool {
    let (withdrawn_before, mtu_before) = (session.withdrawn.clone(), session.mtu);
    let mut changed = match wanted {
        Ok(prepared) => {
            let mtu = crate::mtu::follow(session, prepared.mtu).await;
            crate::lan_yield::follow(session, journal, prepared).await || mtu
        }
        Err(mtu) => crate::mtu::follow(session, mtu).await,
    };
    if changed || local != session.local {
        let event = NetworkEvent::new(
            now_secs(),
            (&session.local, &local),
            (&withdrawn_before, &session.withdrawn),
            (mtu_before, session.mtu),
        );
        tracing::info!(event = %event, "network change followed");
        session.network_event = Some(event);
        session.local = local;
        changed = true;
    }
    changed
}
