//! Brings a session's split DNS to its Plan after every apply: started on the first Plan with a
//! cluster DNS server (again after a failed start), updated on later ones, stopped when the Plan has
//! none. Failures become warnings: the tunnel is up and works by IP.

use crate::dns::{DnsOptions, DnsSession};
use crate::persist::{Journal, State};
use crate::session::Session;

/// `live`: what the journal says is live without DNS. `elsewhere`: the connection whose split DNS
/// runs, when another one's does (one at a time for now: this one's names are not served then).
pub async fn sync_dns(
    session: &mut Session,
    journal: &Journal,
    options: &DnsOptions,
    live: &State,
    elsewhere: Option<&str>,
) {
    let wanted = session.plan.dns.server.is_some();
    if let (Some(other), true, None) = (elsewhere, wanted, session.dns.as_ref()) {
        session.dns_warnings = vec![format!(
            "cluster names of this connection do not resolve on this machine: the split DNS serves the \
             connection {other} (one connection's names at a time for now); pods and services answer by IP"
        )];
        return;
    }
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
