//! Windows NRPT rules and search list in the registry ([`crate::os::windows`] computes them,
//! [`crate::os::windows_registry`] writes them): split DNS on the tunnel's address.

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;

use super::DnsBackend;
use crate::DnsError;
use crate::os::{BackendKind, DnsState, OsPaths, SplitDnsSettings, windows, windows_registry};

/// NRPT.
pub struct Nrpt;

#[async_trait]
impl DnsBackend for Nrpt {
    fn kind(&self) -> BackendKind {
        BackendKind::Nrpt
    }

    /// Windows always has NRPT.
    async fn detect(&self, _paths: &OsPaths) -> bool {
        true
    }

    fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        SocketAddr::new(interface_address, 53)
    }

    async fn apply(&self, _state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        let rules = windows::nrpt_rules(settings.resolver.ip(), &settings.domains());
        windows_registry::apply(&rules, &settings.search)
    }

    async fn revert(&self, _state: &DnsState) -> Result<(), DnsError> {
        windows_registry::revert()
    }

    /// Our rules are found by their key names, with or without a state.
    async fn clean_at_start(&self, _paths: &OsPaths) -> Result<(), DnsError> {
        windows_registry::revert()
    }
}
