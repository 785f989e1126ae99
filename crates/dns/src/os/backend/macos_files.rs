//! macOS `/etc/resolver/<domain>` files ([`crate::os::macos`]): split DNS, the resolver on
//! loopback at [`crate::os::MACOS_PORT`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use async_trait::async_trait;

use super::DnsBackend;
use crate::DnsError;
use crate::os::{BackendKind, DnsState, MACOS_PORT, OsPaths, SplitDnsSettings, macos};

/// The resolver directory's files.
pub struct MacosFiles;

#[async_trait]
impl DnsBackend for MacosFiles {
    fn kind(&self) -> BackendKind {
        BackendKind::Macos
    }

    /// macOS always reads the resolver directory.
    async fn detect(&self, _paths: &OsPaths) -> bool {
        true
    }

    fn listen_addr(&self, _interface_address: IpAddr) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), MACOS_PORT)
    }

    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        let files = macos::resolver_files(settings.resolver, &settings.domains());
        macos::apply(&state.paths.macos_dir(), &files).map(drop)
    }

    async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        macos::remove_ours(&state.paths.macos_dir()).map(drop)
    }

    /// Our files (found by their header) are removed.
    async fn clean_at_start(&self, paths: &OsPaths) -> Result<(), DnsError> {
        macos::remove_ours(&paths.macos_dir()).map(drop)
    }
}
