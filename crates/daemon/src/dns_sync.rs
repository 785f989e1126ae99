//! Brings a session's split DNS to its Plan after every apply: started on the first Plan with a
//! cluster DNS server (again after a failed start), updated on later ones, stopped when the Plan has
//! none. Failures become warnings: the tunnel is up and works by IP.

use crate::dns::{DnsOptions, DnsSession};
use crate::persist::{Journal, State};
use crate::session::Session;

/// `live`: what the journal says is live without DNS.
pub async fn sync_dns(session: &mut Session, journal: &Journal, options: &DnsOptions, live: &State) {
    let wanted = session.plan.dns.server.is_some();
    let result = match session.dns.as_mut() {
        Some(running) if wanted => running.update(&session.plan).await,
        Some(_) => match session.dns.take() {
            Some(running) => {
                let stopped = running.stop().await;
                if stopped.is_ok() {
                    let _ = journal.dns_undone(live);
                }
                stopped
            }
            None => Ok(()),
        },
        None if wanted => match DnsSession::start(options, &session.plan, journal, live).await {
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
