//! systemd-resolved over D-Bus ([`crate::os::linux::resolved`]): split DNS on the tunnel's link,
//! re-applied when resolved restarts.

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracing::warn;

use super::{DnsBackend, ifindex};
use crate::os::linux::resolved::{self, ResolvedCall};
use crate::os::{BackendKind, DnsState, OsPaths, SplitDnsSettings, Warnings};
use crate::{DnsError, UpstreamsHandle};

/// systemd-resolved.
pub struct Resolved;

fn apply_calls(state: &DnsState, settings: &SplitDnsSettings) -> Result<Vec<ResolvedCall>, DnsError> {
    let ifindex = state
        .ifindex
        .ok_or_else(|| DnsError::NoInterface(settings.interface.clone()))?;
    Ok(resolved::apply_calls(
        ifindex,
        settings.resolver.ip(),
        &settings.zone,
        &settings.reverse_zones,
        &settings.search,
    ))
}

#[async_trait]
impl DnsBackend for Resolved {
    fn kind(&self) -> BackendKind {
        BackendKind::Resolved
    }

    /// resolved owns `org.freedesktop.resolve1` on the system bus.
    async fn detect(&self, _paths: &OsPaths) -> bool {
        resolved::available().await
    }

    /// The tunnel's own address: resolved sends the link's names to the link's server.
    fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        SocketAddr::new(interface_address, 53)
    }

    fn prepare(&self, paths: &OsPaths, settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        Ok(DnsState {
            backend: self.kind(),
            paths: paths.clone(),
            ifindex: Some(ifindex(&settings.interface)?),
            interface: None,
        })
    }

    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        resolved::execute(&apply_calls(state, settings)?).await
    }

    async fn watch(
        &self,
        state: &DnsState,
        settings: &SplitDnsSettings,
        _upstreams: UpstreamsHandle,
        _warnings: Warnings,
    ) -> Result<Option<JoinHandle<()>>, DnsError> {
        resolved::watch_restarts(apply_calls(state, settings)?)
            .await
            .map(Some)
    }

    async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        if let Some(ifindex) = state.ifindex {
            // The link may be gone (and its settings with it): not an error.
            if let Err(e) = resolved::execute(&resolved::revert_calls(ifindex)).await {
                warn!(error = %e, "RevertLink failed (link gone?)");
            }
        }
        Ok(())
    }
}
