//! Ending a session: its DNS first (the resolver may listen on the tunnel's address), then its
//! interface and routes. A failure is returned with the fix; the caller keeps the state file then,
//! so the next start restores the DNS and removes what is left.

use crate::error::DaemonError;
use crate::session::Session;

pub async fn remove(mut session: Session) -> Result<(), DaemonError> {
    let name = session.tunnel.name().to_owned();
    let mut dns_failed = None;
    if let Some(dns) = session.dns.take()
        && let Err(e) = dns.stop().await
    {
        tracing::error!(interface = %name, error = %e, "could not restore the DNS settings");
        dns_failed = Some(e);
    }
    let removed = session.tunnel.remove().await;
    // After the interface: the filter guarded it to its last moment.
    if removed.is_ok()
        && let Err(e) = crate::inbound::remove(&name)
    {
        tracing::warn!(interface = %name, error = %e, "could not remove the inbound filter");
    }
    match removed {
        Ok(()) => match dns_failed {
            None => Ok(()),
            Some(e) => Err(DaemonError::DnsNotRestored(e)),
        },
        Err(source) => {
            tracing::error!(interface = %name, error = %source, "could not remove the interface");
            Err(DaemonError::Remove {
                interface: name,
                source,
            })
        }
    }
}
