//! NetworkManager over D-Bus (the settings are computed in [`crate::os::linux::networkmanager`]):
//! the tunnel device's applied connection gets our resolver and the cluster's routing domains
//! (`Device.Reapply`); revert takes them out again. Every exchange gives up after
//! [`DBUS_TIMEOUT`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use tracing::{debug, info, warn};
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use super::DnsBackend;
use crate::DnsError;
use crate::os::linux::networkmanager::{
    self as nm, DESTINATION, DEVICE, DNS_MANAGER, DNS_MANAGER_PATH, PATH, Settings,
};
use crate::os::linux::resolved::DBUS_TIMEOUT;
use crate::os::{BackendKind, DnsState, OsPaths, SplitDnsSettings};

/// NetworkManager.
pub struct NetworkManager;

fn nm_err(what: &str, e: impl std::fmt::Display) -> DnsError {
    DnsError::Server(format!(
        "NetworkManager {what}: {e}; check `nmcli device show` for the tunnel device, or choose \
         another DNS backend with KUBEWIRE_DNS_BACKEND"
    ))
}

async fn bounded<T>(what: &str, exchange: impl Future<Output = zbus::Result<T>>) -> Result<T, DnsError> {
    match tokio::time::timeout(DBUS_TIMEOUT, exchange).await {
        Ok(result) => result.map_err(|e| nm_err(what, e)),
        Err(_) => Err(nm_err(
            what,
            format!("no answer on the system bus within {DBUS_TIMEOUT:?}"),
        )),
    }
}

async fn device(conn: &zbus::Connection, interface: &str) -> Result<OwnedObjectPath, DnsError> {
    let reply = bounded(
        "GetDeviceByIpIface",
        conn.call_method(
            Some(DESTINATION),
            PATH,
            Some(DESTINATION),
            "GetDeviceByIpIface",
            &(interface,),
        ),
    )
    .await?;
    reply
        .body()
        .deserialize()
        .map_err(|e| nm_err("GetDeviceByIpIface", e))
}

async fn applied(conn: &zbus::Connection, device: &OwnedObjectPath) -> Result<(Settings, u64), DnsError> {
    let reply = bounded(
        "GetAppliedConnection",
        conn.call_method(
            Some(DESTINATION),
            device,
            Some(DEVICE),
            "GetAppliedConnection",
            &(0u32,),
        ),
    )
    .await?;
    reply
        .body()
        .deserialize()
        .map_err(|e| nm_err("GetAppliedConnection", e))
}

async fn reapply(
    conn: &zbus::Connection,
    device: &OwnedObjectPath,
    settings: &Settings,
    version: u64,
) -> Result<(), DnsError> {
    bounded(
        "Reapply",
        conn.call_method(
            Some(DESTINATION),
            device,
            Some(DEVICE),
            "Reapply",
            &(settings, version, nm::REAPPLY_PRESERVE_EXTERNAL_IP),
        ),
    )
    .await
    .map(drop)
}

/// NetworkManager's DNS mode, if it runs.
async fn dns_mode() -> Result<String, DnsError> {
    let conn = bounded("connect", zbus::Connection::system()).await?;
    let reply = bounded(
        "DnsManager.Mode",
        conn.call_method(
            Some(DESTINATION),
            DNS_MANAGER_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(DNS_MANAGER, "Mode"),
        ),
    )
    .await?;
    let mode: OwnedValue = reply.body().deserialize().map_err(|e| nm_err("Mode", e))?;
    String::try_from(mode).map_err(|e| nm_err("Mode", e))
}

fn interface<'a>(state: &'a DnsState, settings: Option<&'a SplitDnsSettings>) -> Option<&'a str> {
    state
        .interface
        .as_deref()
        .or(settings.map(|s| s.interface.as_str()))
        .filter(|i| !i.is_empty())
}

#[async_trait]
impl DnsBackend for NetworkManager {
    fn kind(&self) -> BackendKind {
        BackendKind::NetworkManager
    }

    /// NetworkManager runs and hands DNS to a split-capable resolver (dnsmasq, resolved).
    async fn detect(&self, _paths: &OsPaths) -> bool {
        match dns_mode().await {
            Ok(mode) => {
                debug!(mode, "NetworkManager's DNS mode");
                nm::split_capable(&mode)
            }
            Err(e) => {
                debug!(error = %e, "NetworkManager not found on the system bus");
                false
            }
        }
    }

    /// The tunnel's own address: the device's DNS server.
    fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        SocketAddr::new(interface_address, 53)
    }

    fn prepare(&self, paths: &OsPaths, settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        if settings.interface.is_empty() {
            return Err(DnsError::NoInterface(settings.interface.clone()));
        }
        Ok(DnsState {
            backend: self.kind(),
            paths: paths.clone(),
            ifindex: None,
            interface: Some(settings.interface.clone()),
        })
    }

    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        let name = interface(state, Some(settings)).ok_or_else(|| DnsError::NoInterface(String::new()))?;
        let conn = bounded("connect", zbus::Connection::system()).await?;
        let device = device(&conn, name).await?;
        let (current, version) = applied(&conn, &device).await?;
        let ours = nm::with_our_dns(current, settings)?;
        reapply(&conn, &device, &ours, version).await?;
        info!(
            interface = name,
            "NetworkManager: cluster names routed to the tunnel device"
        );
        Ok(())
    }

    /// The device may be gone (and its settings with it): not an error.
    async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        let Some(name) = interface(state, None) else {
            return Ok(());
        };
        let undo = async {
            let conn = bounded("connect", zbus::Connection::system()).await?;
            let device = device(&conn, name).await?;
            let (current, version) = applied(&conn, &device).await?;
            reapply(&conn, &device, &nm::without_our_dns(current), version).await
        };
        if let Err(e) = undo.await {
            warn!(error = %e, "NetworkManager: taking our DNS off the device failed (device gone?)");
        }
        Ok(())
    }
}
