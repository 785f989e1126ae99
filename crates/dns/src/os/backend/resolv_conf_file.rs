//! `/etc/resolv.conf` rewritten ([`crate::os::resolv_conf`]): the resolver becomes the system
//! resolver and forwards other names to the original nameservers. On Linux, rivals rewriting the
//! file are followed ([`crate::os::linux::resolv_conf_watch`]).

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;

use super::DnsBackend;
use crate::os::{BackendKind, DnsState, OsPaths, SplitDnsSettings, resolv_conf};
use crate::{DnsError, LOOPBACK_LISTEN};

/// The plain file.
pub struct ResolvConfFile;

#[async_trait]
impl DnsBackend for ResolvConfFile {
    fn kind(&self) -> BackendKind {
        BackendKind::ResolvConf
    }

    /// The last resort: always applies.
    async fn detect(&self, _paths: &OsPaths) -> bool {
        true
    }

    fn listen_addr(&self, _interface_address: IpAddr) -> SocketAddr {
        LOOPBACK_LISTEN
    }

    fn upstreams(&self, paths: &OsPaths, resolver: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        resolv_conf::original_nameservers(&paths.resolv_conf, resolver.ip())
    }

    /// No cluster search suffixes in resolv.conf: glibc would append them to every name that gets
    /// NODATA (`www.example.com.default.svc.cluster.local`), leaking external names to the
    /// cluster DNS. The resolver expands short names itself (crate::route).
    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        resolv_conf::apply(&state.paths.resolv_conf, settings.resolver.ip(), &[])
    }

    #[cfg(target_os = "linux")]
    async fn watch(
        &self,
        state: &DnsState,
        settings: &SplitDnsSettings,
        upstreams: crate::UpstreamsHandle,
        warnings: crate::os::Warnings,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, DnsError> {
        crate::os::linux::resolv_conf_watch::spawn(
            state.paths.resolv_conf.clone(),
            settings.resolver.ip(),
            upstreams,
            warnings,
        )
        .map(Some)
    }

    async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        resolv_conf::revert(&state.paths.resolv_conf)
    }

    /// A backup left by a crash is put back if the file is (still) ours.
    async fn clean_at_start(&self, paths: &OsPaths) -> Result<(), DnsError> {
        resolv_conf::revert(&paths.resolv_conf)
    }
}
