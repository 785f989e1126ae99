//! systemd-resolved over D-Bus (`org.freedesktop.resolve1`): the tunnel link gets our resolver as its
//! DNS server, `~<zone>` and the reverse zones as routing-only domains, the search suffixes, and no
//! default route, so only cluster names reach it. `RevertLink` on teardown; the settings also vanish
//! with the link. Re-applied when resolved restarts ([`watch_restarts`]).
//!
//! The calls are computed by pure functions ([`apply_calls`], [`revert_calls`]) and executed by
//! [`execute`]. Every exchange on the bus (connecting, each call, the name query) gives up after
//! [`DBUS_TIMEOUT`]: a wedged dbus-daemon or resolved must not hang the daemon that waits for it.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::DnsError;

const DESTINATION: &str = "org.freedesktop.resolve1";
const PATH: &str = "/org/freedesktop/resolve1";
const MANAGER: &str = "org.freedesktop.resolve1.Manager";

/// One method call on `org.freedesktop.resolve1.Manager`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ResolvedCall {
    /// `SetLinkDNS(i ifindex, a(iay) addresses)`: family (AF_INET 2 / AF_INET6 10) and address bytes.
    SetLinkDns {
        /// Interface index.
        ifindex: i32,
        /// `(family, bytes)` pairs.
        servers: Vec<(i32, Vec<u8>)>,
    },
    /// `SetLinkDomains(i ifindex, a(sb) domains)`: `(domain, routing_only)`.
    SetLinkDomains {
        /// Interface index.
        ifindex: i32,
        /// `(domain, routing_only)` pairs; `true` is resolvectl's `~domain`.
        domains: Vec<(String, bool)>,
    },
    /// `SetLinkDefaultRoute(i ifindex, b enable)`.
    SetLinkDefaultRoute {
        /// Interface index.
        ifindex: i32,
        /// Whether the link is used for names no link's domains match.
        enable: bool,
    },
    /// `FlushCaches()`.
    FlushCaches,
    /// `RevertLink(i ifindex)`.
    RevertLink {
        /// Interface index.
        ifindex: i32,
    },
}

impl ResolvedCall {
    /// The D-Bus method name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::SetLinkDns { .. } => "SetLinkDNS",
            Self::SetLinkDomains { .. } => "SetLinkDomains",
            Self::SetLinkDefaultRoute { .. } => "SetLinkDefaultRoute",
            Self::FlushCaches => "FlushCaches",
            Self::RevertLink { .. } => "RevertLink",
        }
    }
}

fn address(ip: IpAddr) -> (i32, Vec<u8>) {
    match ip {
        IpAddr::V4(a) => (2, a.octets().to_vec()),
        IpAddr::V6(a) => (10, a.octets().to_vec()),
    }
}

/// The calls that point link `ifindex` at the resolver for the cluster zone, the reverse zones
/// (routing only) and the search suffixes.
pub fn apply_calls(
    ifindex: i32,
    resolver: IpAddr,
    zone: &str,
    reverse_zones: &[String],
    search: &[String],
) -> Vec<ResolvedCall> {
    let mut domains: Vec<(String, bool)> = Vec::new();
    let clean = |d: &str| d.trim_end_matches('.').to_owned();
    for d in search {
        let d = clean(d);
        if !d.is_empty() && !domains.iter().any(|(x, _)| *x == d) {
            domains.push((d, false));
        }
    }
    for d in std::iter::once(zone).chain(reverse_zones.iter().map(String::as_str)) {
        let d = clean(d);
        if !d.is_empty() && !domains.iter().any(|(x, _)| *x == d) {
            domains.push((d, true));
        }
    }
    vec![
        ResolvedCall::SetLinkDns {
            ifindex,
            servers: vec![address(resolver)],
        },
        ResolvedCall::SetLinkDomains { ifindex, domains },
        ResolvedCall::SetLinkDefaultRoute {
            ifindex,
            enable: false,
        },
        ResolvedCall::FlushCaches,
    ]
}

/// The calls that undo [`apply_calls`].
pub fn revert_calls(ifindex: i32) -> Vec<ResolvedCall> {
    vec![ResolvedCall::RevertLink { ifindex }, ResolvedCall::FlushCaches]
}

fn resolved_err(method: &'static str, e: zbus::Error) -> DnsError {
    DnsError::Resolved {
        method,
        source: Box::new(e),
    }
}

/// How long one exchange on the system bus may take.
pub const DBUS_TIMEOUT: Duration = Duration::from_secs(3);

/// `exchange`, or a timeout error after [`DBUS_TIMEOUT`].
async fn bounded<T>(
    method: &'static str,
    exchange: impl Future<Output = Result<T, zbus::Error>>,
) -> Result<T, DnsError> {
    match tokio::time::timeout(DBUS_TIMEOUT, exchange).await {
        Ok(result) => result.map_err(|e| resolved_err(method, e)),
        Err(_) => Err(resolved_err(
            method,
            zbus::Error::InputOutput(std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer on the system bus within {DBUS_TIMEOUT:?}"),
            ))),
        )),
    }
}

/// Run the calls in order on the system bus.
pub async fn execute(calls: &[ResolvedCall]) -> Result<(), DnsError> {
    let conn = bounded("connect", zbus::Connection::system()).await?;
    execute_on(&conn, calls).await
}

async fn execute_on(conn: &zbus::Connection, calls: &[ResolvedCall]) -> Result<(), DnsError> {
    for call in calls {
        let method = call.method();
        debug!(?call, "resolved call");
        bounded(method, call_one(conn, call)).await?;
    }
    Ok(())
}

async fn call_one(conn: &zbus::Connection, call: &ResolvedCall) -> Result<zbus::Message, zbus::Error> {
    let method = call.method();
    match call {
        ResolvedCall::SetLinkDns { ifindex, servers } => {
            conn.call_method(
                Some(DESTINATION),
                PATH,
                Some(MANAGER),
                method,
                &(*ifindex, servers),
            )
            .await
        }
        ResolvedCall::SetLinkDomains { ifindex, domains } => {
            conn.call_method(
                Some(DESTINATION),
                PATH,
                Some(MANAGER),
                method,
                &(*ifindex, domains),
            )
            .await
        }
        ResolvedCall::SetLinkDefaultRoute { ifindex, enable } => {
            conn.call_method(
                Some(DESTINATION),
                PATH,
                Some(MANAGER),
                method,
                &(*ifindex, *enable),
            )
            .await
        }
        ResolvedCall::FlushCaches => {
            conn.call_method(Some(DESTINATION), PATH, Some(MANAGER), method, &())
                .await
        }
        ResolvedCall::RevertLink { ifindex } => {
            conn.call_method(Some(DESTINATION), PATH, Some(MANAGER), method, &(*ifindex,))
                .await
        }
    }
}

/// Whether resolved answers on the system bus (it has an owner for `org.freedesktop.resolve1`).
/// A bus that does not answer within [`DBUS_TIMEOUT`] counts as no resolved.
pub async fn available() -> bool {
    let asked = async {
        let conn = zbus::Connection::system().await?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        let name = zbus::names::BusName::try_from(DESTINATION)?;
        Ok(dbus.name_has_owner(name).await?)
    };
    match bounded("NameHasOwner", asked).await {
        Ok(owned) => owned,
        Err(e) => {
            debug!(error = %e, "systemd-resolved not found on the system bus");
            false
        }
    }
}

/// Re-run `calls` whenever resolved (re)appears on the bus, until the returned task is aborted.
pub async fn watch_restarts(calls: Vec<ResolvedCall>) -> Result<tokio::task::JoinHandle<()>, DnsError> {
    use futures::StreamExt as _;
    let conn = bounded("connect", zbus::Connection::system()).await?;
    let dbus = bounded("DBusProxy", zbus::fdo::DBusProxy::new(&conn)).await?;
    let mut changes = bounded(
        "NameOwnerChanged",
        dbus.receive_name_owner_changed_with_args(&[(0, DESTINATION)]),
    )
    .await?;
    Ok(tokio::spawn(async move {
        while let Some(signal) = changes.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.new_owner().is_none() {
                continue;
            }
            info!("systemd-resolved restarted; re-applying split DNS");
            if let Err(e) = execute_on(&conn, &calls).await {
                warn!(error = %e, "re-applying split DNS to systemd-resolved failed");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_calls_route_only_cluster_names_to_the_link() {
        let calls = apply_calls(
            7,
            "10.4.0.99".parse().unwrap(),
            "cluster.local.",
            &["42.10.in-addr.arpa".into()],
            &["default.svc.cluster.local".into(), "svc.cluster.local".into()],
        );
        assert_eq!(
            calls,
            [
                ResolvedCall::SetLinkDns {
                    ifindex: 7,
                    servers: vec![(2, vec![10, 4, 0, 99])]
                },
                ResolvedCall::SetLinkDomains {
                    ifindex: 7,
                    domains: vec![
                        ("default.svc.cluster.local".into(), false),
                        ("svc.cluster.local".into(), false),
                        ("cluster.local".into(), true),
                        ("42.10.in-addr.arpa".into(), true),
                    ]
                },
                ResolvedCall::SetLinkDefaultRoute {
                    ifindex: 7,
                    enable: false
                },
                ResolvedCall::FlushCaches,
            ]
        );
        let names: Vec<&str> = calls.iter().map(ResolvedCall::method).collect();
        assert_eq!(
            names,
            [
                "SetLinkDNS",
                "SetLinkDomains",
                "SetLinkDefaultRoute",
                "FlushCaches"
            ]
        );
    }

    #[test]
    fn ipv6_servers_use_af_inet6_and_revert_reverts_the_link() {
        let calls = apply_calls(3, "fd00::1".parse().unwrap(), "c.l", &[], &[]);
        let ResolvedCall::SetLinkDns { servers, .. } = &calls[0] else {
            panic!("first call is SetLinkDNS")
        };
        assert_eq!(servers[0].0, 10);
        assert_eq!(servers[0].1.len(), 16);
        assert_eq!(
            revert_calls(3),
            [ResolvedCall::RevertLink { ifindex: 3 }, ResolvedCall::FlushCaches]
        );
    }
}
