//! The tunnel's MTU follows the underlay (wg-quick's rule, [`kubewire_core::mtu`]) unless the Plan sets
//! one (`connect --mtu`): chosen when a Plan is prepared, re-chosen after every network change, and set
//! on the live interface in place (flows keep going).

use std::net::IpAddr;

use kubewire_core::mtu::TunnelMtu;

use crate::session::Session;

/// The MTU for a tunnel whose peers are at `endpoints`: `configured` when set, else the smallest MTU
/// of the routes towards them less 80 (the routes are read on a blocking thread: it runs the OS's
/// route tool).
pub async fn choose(configured: Option<u16>, mut endpoints: Vec<IpAddr>) -> TunnelMtu {
    if configured.is_some() {
        return TunnelMtu::choose(configured, []);
    }
    endpoints.sort_unstable();
    endpoints.dedup();
    let underlay = tokio::task::spawn_blocking(move || {
        endpoints
            .into_iter()
            .map(kubewire_tunnel::path_mtu)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    TunnelMtu::choose(None, underlay)
}

/// The endpoints the session's tunnel dials now.
pub fn live_endpoints(session: &Session) -> Vec<IpAddr> {
    session
        .tunnel
        .live()
        .peers
        .values()
        .filter_map(|p| p.endpoint.map(|e| e.ip()))
        .collect()
}

/// Sets `wanted` on the session's interface when it differs; `true` when it changed.
pub async fn follow(session: &mut Session, wanted: TunnelMtu) -> bool {
    if session.mtu == wanted {
        return false;
    }
    let name = session.tunnel.name().to_owned();
    match session.tunnel.set_mtu(wanted.mtu).await {
        Ok(()) => {
            tracing::info!(interface = %name, mtu = wanted.mtu, reason = %wanted, "tunnel MTU follows the underlay");
            session.mtu = wanted;
            true
        }
        Err(e) => {
            tracing::warn!(interface = %name, mtu = wanted.mtu, error = %e, "setting the tunnel MTU failed");
            false
        }
    }
}
