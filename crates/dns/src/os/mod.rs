//! Telling the OS: one API ([`OsDns`]) over the per-OS backends, chosen at run time
//! (`KUBEWIRE_DNS_BACKEND=resolved|resolv-conf|macos|nrpt|none` overrides the choice).
//!
//! Crash safety: the daemon persists the [`DnsState`] that [`OsDns::prepare`] returns *before*
//! [`OsDns::apply`], and calls [`restore_at_start`] with it at every start.

#[cfg(target_os = "linux")]
pub mod linux {
    //! Linux backends.
    pub mod resolv_conf;
    pub mod resolv_conf_rivals;
    pub mod resolv_conf_watch;
    pub mod resolved;
}
pub mod macos;
#[cfg(not(target_os = "linux"))]
#[path = "linux/resolv_conf.rs"]
pub mod resolv_conf_portable;
pub mod windows;
#[cfg(windows)]
mod windows_registry;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::DnsError;
use crate::config::LOOPBACK_LISTEN;
#[cfg(target_os = "linux")]
use linux::resolv_conf;
#[cfg(target_os = "linux")]
pub use linux::resolv_conf::ResolvConfPaths;
#[cfg(not(target_os = "linux"))]
use resolv_conf_portable as resolv_conf;
#[cfg(not(target_os = "linux"))]
pub use resolv_conf_portable::ResolvConfPaths;

/// Warnings for `status` from a watch (resolv.conf mode: another program keeps rewriting the file).
pub type Warnings = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// The environment variable that overrides the backend choice.
pub const BACKEND_ENV: &str = "KUBEWIRE_DNS_BACKEND";

/// The port the resolver uses on macOS (its resolver files can name a port; 53 may be taken).
pub const MACOS_PORT: u16 = 53530;

/// How the OS is told.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// systemd-resolved over D-Bus (split: only cluster names reach the resolver).
    Resolved,
    /// `/etc/resolv.conf` rewritten: the resolver is the system resolver and forwards the rest.
    ResolvConf,
    /// macOS `/etc/resolver/<domain>` files (split).
    Macos,
    /// Windows NRPT rules (split).
    Nrpt,
    /// Leave the OS alone (the resolver still runs).
    None,
}

impl BackendKind {
    /// Parse the env override's value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "resolved" => Some(Self::Resolved),
            "resolv-conf" | "resolvconf" | "file" => Some(Self::ResolvConf),
            "macos" => Some(Self::Macos),
            "nrpt" | "windows" => Some(Self::Nrpt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether only cluster names reach the resolver (no upstreams needed).
    pub fn is_split(self) -> bool {
        !matches!(self, Self::ResolvConf | Self::None)
    }
}

/// Files the backends touch (tests point them at a namespace's or a temp directory's files).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct OsPaths {
    /// resolv.conf mode.
    pub resolv_conf: ResolvConfPaths,
    /// macOS resolver directory (`/etc/resolver`).
    pub macos_resolver_dir: Option<PathBuf>,
}

impl OsPaths {
    fn macos_dir(&self) -> PathBuf {
        self.macos_resolver_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(macos::RESOLVER_DIR))
    }
}

/// What to tell the OS.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SplitDnsSettings {
    /// The tunnel interface (resolved: its link gets the settings).
    pub interface: String,
    /// Where the resolver listens.
    pub resolver: SocketAddr,
    /// The cluster zone.
    pub zone: String,
    /// The reverse zones of the routed ranges ([`crate::reverse::reverse_zones`]).
    pub reverse_zones: Vec<String>,
    /// Search suffixes (`<ns>.svc.<zone>`, `svc.<zone>`).
    pub search: Vec<String>,
}

impl SplitDnsSettings {
    /// Settings from a Plan and the resolver's address.
    pub fn from_plan(plan: &kubewire_core::plan::Plan, resolver: SocketAddr) -> Self {
        Self {
            interface: plan.interface.name.clone(),
            resolver,
            zone: plan.dns.zone.trim_end_matches('.').to_owned(),
            reverse_zones: crate::reverse::reverse_zones(&plan.routes)
                .iter()
                .map(|n| n.to_string().trim_end_matches('.').to_owned())
                .collect(),
            search: plan.dns.search.clone(),
        }
    }

    fn domains(&self) -> Vec<String> {
        std::iter::once(self.zone.clone())
            .chain(self.reverse_zones.iter().cloned())
            .collect()
    }
}

/// What the daemon persists before [`OsDns::apply`]: enough to undo it after a crash.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DnsState {
    /// The backend used.
    pub backend: BackendKind,
    /// The files (resolv.conf mode and macOS).
    pub paths: OsPaths,
    /// resolved: the link's index.
    pub ifindex: Option<i32>,
}

/// The OS backend in use.
#[derive(Clone, Debug)]
pub struct OsDns {
    kind: BackendKind,
    paths: OsPaths,
}

impl OsDns {
    /// A given backend (tests, or a setting).
    pub fn new(kind: BackendKind, paths: OsPaths) -> Self {
        Self { kind, paths }
    }

    /// The backend for this machine: the env override, else macOS files / Windows NRPT / resolved
    /// when it owns the system bus name, else resolv.conf.
    pub async fn detect(paths: OsPaths) -> Self {
        if let Ok(value) = std::env::var(BACKEND_ENV) {
            match BackendKind::parse(&value) {
                Some(kind) => return Self::new(kind, paths),
                None => warn!(value, "unknown {BACKEND_ENV}; choosing automatically"),
            }
        }
        let kind = if cfg!(target_os = "macos") {
            BackendKind::Macos
        } else if cfg!(windows) {
            BackendKind::Nrpt
        } else {
            #[cfg(target_os = "linux")]
            let resolved = linux::resolved::available().await;
            #[cfg(not(target_os = "linux"))]
            let resolved = false;
            if resolved {
                BackendKind::Resolved
            } else {
                BackendKind::ResolvConf
            }
        };
        info!(?kind, "DNS backend chosen");
        Self::new(kind, paths)
    }

    /// The backend.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Where the resolver should listen: loopback in resolv.conf mode (`127.0.2.53:53`) and on macOS
    /// (`127.0.0.1:53530`); the tunnel's own address on port 53 where the OS sends queries to a
    /// link's server (resolved, NRPT).
    pub fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        match self.kind {
            BackendKind::ResolvConf | BackendKind::None => LOOPBACK_LISTEN,
            BackendKind::Macos => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), MACOS_PORT),
            BackendKind::Resolved | BackendKind::Nrpt => SocketAddr::new(interface_address, 53),
        }
    }

    /// The original nameservers the resolver forwards other names to (resolv.conf mode); empty in
    /// split modes.
    pub fn upstreams(&self, resolver: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        match self.kind {
            BackendKind::ResolvConf => {
                resolv_conf::original_nameservers(&self.paths.resolv_conf, resolver.ip())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// What [`OsDns::apply`] will change, to persist first.
    pub fn prepare(&self, settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        let ifindex = match self.kind {
            BackendKind::Resolved => Some(ifindex(&settings.interface)?),
            _ => None,
        };
        Ok(DnsState {
            backend: self.kind,
            paths: self.paths.clone(),
            ifindex,
        })
    }

    /// Point the OS at the resolver.
    pub async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        match state.backend {
            BackendKind::None => Ok(()),
            // No cluster search suffixes in resolv.conf: glibc would append them to every name
            // that gets NODATA (`www.example.com.default.svc.cluster.local`), leaking external
            // names to the cluster DNS. The resolver expands short names itself (crate::route).
            BackendKind::ResolvConf => {
                resolv_conf::apply(&state.paths.resolv_conf, settings.resolver.ip(), &[])
            }
            BackendKind::Macos => {
                let files = macos::resolver_files(settings.resolver, &settings.domains());
                macos::apply(&state.paths.macos_dir(), &files).map(drop)
            }
            BackendKind::Resolved => {
                #[cfg(target_os = "linux")]
                {
                    let calls = resolved_apply_calls(state, settings)?;
                    linux::resolved::execute(&calls).await
                }
                #[cfg(not(target_os = "linux"))]
                Err(DnsError::Unsupported("resolved"))
            }
            BackendKind::Nrpt => {
                #[cfg(windows)]
                {
                    let rules = windows::nrpt_rules(settings.resolver.ip(), &settings.domains());
                    windows_registry::apply(&rules, &settings.search)
                }
                #[cfg(not(windows))]
                Err(DnsError::Unsupported("nrpt"))
            }
        }
    }

    /// Keep our settings in force: resolved mode re-applies them when resolved restarts;
    /// resolv.conf mode follows other writers of the file (their nameservers become `upstreams`,
    /// ours goes back within a second; a fight becomes a warning in `warnings`). `None` otherwise.
    /// At disconnect abort the task and await it, before [`OsDns::revert`].
    pub async fn watch(
        &self,
        state: &DnsState,
        settings: &SplitDnsSettings,
        upstreams: crate::UpstreamsHandle,
        warnings: Warnings,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, DnsError> {
        #[cfg(target_os = "linux")]
        match state.backend {
            BackendKind::Resolved => {
                let calls = resolved_apply_calls(state, settings)?;
                return linux::resolved::watch_restarts(calls).await.map(Some);
            }
            BackendKind::ResolvConf => {
                return linux::resolv_conf_watch::spawn(
                    state.paths.resolv_conf.clone(),
                    settings.resolver.ip(),
                    upstreams,
                    warnings,
                )
                .map(Some);
            }
            _ => {}
        }
        let _ = (state, settings, upstreams, warnings);
        Ok(None)
    }

    /// Undo [`OsDns::apply`].
    pub async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        revert(state).await
    }
}

#[cfg(target_os = "linux")]
fn resolved_apply_calls(
    state: &DnsState,
    settings: &SplitDnsSettings,
) -> Result<Vec<linux::resolved::ResolvedCall>, DnsError> {
    let ifindex = state
        .ifindex
        .ok_or_else(|| DnsError::NoInterface(settings.interface.clone()))?;
    Ok(linux::resolved::apply_calls(
        ifindex,
        settings.resolver.ip(),
        &settings.zone,
        &settings.reverse_zones,
        &settings.search,
    ))
}

async fn revert(state: &DnsState) -> Result<(), DnsError> {
    match state.backend {
        BackendKind::None => Ok(()),
        BackendKind::Nrpt => {
            #[cfg(windows)]
            {
                windows_registry::revert()
            }
            #[cfg(not(windows))]
            {
                Ok(())
            }
        }
        BackendKind::ResolvConf => resolv_conf::revert(&state.paths.resolv_conf),
        BackendKind::Macos => macos::remove_ours(&state.paths.macos_dir()).map(drop),
        BackendKind::Resolved => {
            #[cfg(target_os = "linux")]
            if let Some(ifindex) = state.ifindex {
                // The link may be gone (and its settings with it): not an error.
                if let Err(e) = linux::resolved::execute(&linux::resolved::revert_calls(ifindex)).await {
                    warn!(error = %e, "RevertLink failed (link gone?)");
                }
            }
            Ok(())
        }
    }
}

/// At every daemon start, before anything else: undo what the last run left (`state` is what it
/// persisted, `None` if nothing). Without a state, the default files are still checked: a
/// resolv.conf backup is restored if the file is ours, our macOS resolver files are removed.
pub async fn restore_at_start(state: Option<&DnsState>, default_paths: &OsPaths) -> Result<(), DnsError> {
    if let Some(state) = state {
        revert(state).await?;
    }
    if cfg!(target_os = "macos") {
        macos::remove_ours(&default_paths.macos_dir())?;
    } else if !cfg!(windows) {
        resolv_conf::revert(&default_paths.resolv_conf)?;
    }
    // Our NRPT rules are found by their key names, with or without a state.
    #[cfg(windows)]
    windows_registry::revert()?;
    Ok(())
}

/// The interface's index.
fn ifindex(name: &str) -> Result<i32, DnsError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(DnsError::NoInterface(name.to_owned()));
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| DnsError::NoInterface(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_split_modes_need_no_upstreams() {
        assert_eq!(BackendKind::parse("resolved"), Some(BackendKind::Resolved));
        assert_eq!(BackendKind::parse("resolv-conf"), Some(BackendKind::ResolvConf));
        assert_eq!(BackendKind::parse("none"), Some(BackendKind::None));
        assert_eq!(BackendKind::parse("bogus"), None);
        assert!(BackendKind::Resolved.is_split());
        assert!(!BackendKind::ResolvConf.is_split());
        let os = OsDns::new(BackendKind::Resolved, OsPaths::default());
        assert_eq!(os.upstreams(LOOPBACK_LISTEN).unwrap(), Vec::<SocketAddr>::new());
        assert_eq!(
            os.listen_addr("10.4.0.99".parse().unwrap()),
            "10.4.0.99:53".parse().unwrap()
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = DnsState {
            backend: BackendKind::ResolvConf,
            paths: OsPaths::default(),
            ifindex: None,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"resolv-conf\""));
        assert_eq!(serde_json::from_str::<DnsState>(&json).unwrap(), state);
    }
}
