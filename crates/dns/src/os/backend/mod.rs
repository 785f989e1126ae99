//! [`DnsBackend`]: one way of telling the OS about the resolver, one file per backend. Which
//! backends exist on an OS, and the order they are tried in, is that OS's table (`super::table`).

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use tokio::task::JoinHandle;

use super::{BackendKind, DnsState, OsPaths, SplitDnsSettings, Warnings};
use crate::{DnsError, UpstreamsHandle};

pub mod macos_files;
#[cfg(target_os = "linux")]
pub mod networkmanager;
#[cfg(windows)]
pub mod nrpt;
#[cfg(target_os = "linux")]
pub mod openresolv;
#[cfg(target_os = "linux")]
pub mod openresolv_watch;
pub mod resolv_conf_file;
#[cfg(target_os = "linux")]
pub mod resolved;

/// One way of pointing the OS at the resolver.
#[async_trait]
pub trait DnsBackend: Send + Sync {
    /// Which one (persisted in [`DnsState`]).
    fn kind(&self) -> BackendKind;

    /// Whether it is the one managing DNS on this machine (asked in the OS table's order; the
    /// first that says yes is used).
    async fn detect(&self, paths: &OsPaths) -> bool;

    /// Where the resolver should listen for this backend.
    fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr;

    /// The nameservers the resolver forwards other names to (empty for split backends).
    fn upstreams(&self, _paths: &OsPaths, _resolver: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        Ok(Vec::new())
    }

    /// What [`DnsBackend::apply`] will change, to persist before it.
    fn prepare(&self, paths: &OsPaths, _settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        Ok(DnsState {
            backend: self.kind(),
            paths: paths.clone(),
            ifindex: None,
            interface: None,
        })
    }

    /// Point the OS at the resolver.
    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError>;

    /// Keep the settings in force (rivals, restarts) until the returned task is aborted.
    async fn watch(
        &self,
        _state: &DnsState,
        _settings: &SplitDnsSettings,
        _upstreams: UpstreamsHandle,
        _warnings: Warnings,
    ) -> Result<Option<JoinHandle<()>>, DnsError> {
        Ok(None)
    }

    /// Undo [`DnsBackend::apply`] (also after a crash, from the persisted state).
    async fn revert(&self, state: &DnsState) -> Result<(), DnsError>;

    /// At every start, with no persisted state: undo what a crashed run may have left in the
    /// default places.
    async fn clean_at_start(&self, _paths: &OsPaths) -> Result<(), DnsError> {
        Ok(())
    }
}

/// Leave the OS alone (the resolver still runs, on loopback).
pub struct Nothing;

#[async_trait]
impl DnsBackend for Nothing {
    fn kind(&self) -> BackendKind {
        BackendKind::None
    }
    async fn detect(&self, _paths: &OsPaths) -> bool {
        true
    }
    fn listen_addr(&self, _interface_address: IpAddr) -> SocketAddr {
        crate::LOOPBACK_LISTEN
    }
    async fn apply(&self, _state: &DnsState, _settings: &SplitDnsSettings) -> Result<(), DnsError> {
        Ok(())
    }
    async fn revert(&self, _state: &DnsState) -> Result<(), DnsError> {
        Ok(())
    }
}

/// A backend that does not exist on this OS (chosen by the override or found in a state file):
/// applying fails with a clear error, reverting has nothing to undo.
pub struct Unsupported {
    /// Which one.
    pub kind: BackendKind,
    /// Its name in the error.
    pub name: &'static str,
    /// Where the resolver would listen.
    pub split: bool,
}

#[async_trait]
impl DnsBackend for Unsupported {
    fn kind(&self) -> BackendKind {
        self.kind
    }
    async fn detect(&self, _paths: &OsPaths) -> bool {
        false
    }
    fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        if self.split {
            SocketAddr::new(interface_address, 53)
        } else {
            crate::LOOPBACK_LISTEN
        }
    }
    async fn apply(&self, _state: &DnsState, _settings: &SplitDnsSettings) -> Result<(), DnsError> {
        Err(DnsError::Unsupported(self.name))
    }
    async fn revert(&self, _state: &DnsState) -> Result<(), DnsError> {
        Ok(())
    }
}

/// The interface's index (Linux's sysfs).
pub fn ifindex(name: &str) -> Result<i32, DnsError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(DnsError::NoInterface(name.to_owned()));
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| DnsError::NoInterface(name.to_owned()))
}
