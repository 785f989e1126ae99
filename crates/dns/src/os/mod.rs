//! Telling the OS: one API ([`OsDns`]) over the [`backend::DnsBackend`]s, one file each, chosen at
//! run time from this OS's table (`table`; `KUBEWIRE_DNS_BACKEND=resolved|networkmanager|openresolv|
//! resolv-conf|macos|nrpt|none` overrides the choice).
//!
//! Crash safety: the daemon persists the [`DnsState`] that [`OsDns::prepare`] returns *before*
//! [`OsDns::apply`], and calls [`restore_at_start`] with it at every start.

pub mod backend;
#[cfg(target_os = "linux")]
pub mod linux {
    //! Linux's pieces: resolved's D-Bus calls, watching resolv.conf (inotify).
    pub mod networkmanager;
    pub mod openresolv;
    pub mod resolv_conf_rivals;
    pub mod resolv_conf_watch;
    pub mod resolved;
}
pub mod macos;
pub mod resolv_conf;
mod table;
pub mod windows;
#[cfg(windows)]
mod windows_registry;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::DnsError;
pub use backend::DnsBackend;
pub use resolv_conf::ResolvConfPaths;

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
    /// NetworkManager over D-Bus: the tunnel device's DNS with routing domains (split), when
    /// NetworkManager hands DNS to dnsmasq or systemd-resolved.
    #[serde(rename = "networkmanager")]
    NetworkManager,
    /// openresolv's `resolvconf -a <iface>.kubewire -x` (the program that writes
    /// `/etc/resolv.conf` on some distributions): the resolver is the system resolver and forwards
    /// the rest.
    Openresolv,
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
            "networkmanager" | "network-manager" | "nm" => Some(Self::NetworkManager),
            "openresolv" => Some(Self::Openresolv),
            "resolv-conf" | "resolvconf" | "file" => Some(Self::ResolvConf),
            "macos" => Some(Self::Macos),
            "nrpt" | "windows" => Some(Self::Nrpt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether only cluster names reach the resolver (no upstreams needed).
    pub fn is_split(self) -> bool {
        !matches!(self, Self::ResolvConf | Self::Openresolv | Self::None)
    }

    /// This OS's backend of this kind.
    pub fn backend(self) -> &'static dyn DnsBackend {
        table::backend(self)
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
    /// resolvconf and NetworkManager: the tunnel interface's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
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

    /// The backend for this machine: the env override, else the first in this OS's table that
    /// detects itself (Linux: resolved, NetworkManager, openresolv, the plain file).
    pub async fn detect(paths: OsPaths) -> Self {
        if let Ok(value) = std::env::var(BACKEND_ENV) {
            match BackendKind::parse(&value) {
                Some(kind) => return Self::new(kind, paths),
                None => warn!(value, "unknown {BACKEND_ENV}; choosing automatically"),
            }
        }
        let kind = choose(table::AUTO, &paths).await;
        info!(?kind, "DNS backend chosen");
        Self::new(kind, paths)
    }

    /// The backend.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Where the resolver should listen: loopback where it is the system resolver
    /// (`127.0.2.53:53`) and on macOS (`127.0.0.1:53530`); the tunnel's own address on port 53
    /// where the OS sends queries to a link's server (resolved, NetworkManager, NRPT).
    pub fn listen_addr(&self, interface_address: IpAddr) -> SocketAddr {
        self.kind.backend().listen_addr(interface_address)
    }

    /// The original nameservers the resolver forwards other names to (resolv.conf and resolvconf
    /// modes); empty in split modes.
    pub fn upstreams(&self, resolver: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        self.kind.backend().upstreams(&self.paths, resolver)
    }

    /// What [`OsDns::apply`] will change, to persist first.
    pub fn prepare(&self, settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        self.kind.backend().prepare(&self.paths, settings)
    }

    /// Point the OS at the resolver.
    pub async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        state.backend.backend().apply(state, settings).await
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
        state
            .backend
            .backend()
            .watch(state, settings, upstreams, warnings)
            .await
    }

    /// Undo [`OsDns::apply`].
    pub async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        state.backend.backend().revert(state).await
    }
}

/// The first backend of `order` that detects itself; the plain file if none does.
pub async fn choose(order: &[&dyn DnsBackend], paths: &OsPaths) -> BackendKind {
    for backend in order {
        if backend.detect(paths).await {
            return backend.kind();
        }
    }
    BackendKind::ResolvConf
}

/// At every daemon start, before anything else: undo what the last run left (`state` is what it
/// persisted, `None` if nothing). Without a state, the default places are still checked: a
/// resolv.conf backup is restored if the file is ours, our macOS resolver files and Windows NRPT
/// rules are removed (each backend of this OS's table cleans its own).
pub async fn restore_at_start(state: Option<&DnsState>, default_paths: &OsPaths) -> Result<(), DnsError> {
    // Every step runs even when one fails (a broken openresolv must not keep a resolv.conf backup
    // from being restored); the first error is returned.
    let mut first = match state {
        Some(state) => state.backend.backend().revert(state).await.err(),
        None => None,
    };
    for backend in table::AUTO {
        if let Err(e) = backend.clean_at_start(default_paths).await {
            warn!(backend = ?backend.kind(), error = %e, "cleaning up at start failed");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LOOPBACK_LISTEN;

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

    /// A backend that says what it is told to.
    struct Fake(BackendKind, bool);

    #[async_trait::async_trait]
    impl DnsBackend for Fake {
        fn kind(&self) -> BackendKind {
            self.0
        }
        async fn detect(&self, _paths: &OsPaths) -> bool {
            self.1
        }
        fn listen_addr(&self, _interface_address: IpAddr) -> SocketAddr {
            LOOPBACK_LISTEN
        }
        async fn apply(&self, _state: &DnsState, _settings: &SplitDnsSettings) -> Result<(), DnsError> {
            Ok(())
        }
        async fn revert(&self, _state: &DnsState) -> Result<(), DnsError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_first_backend_that_detects_itself_is_chosen() {
        use BackendKind::*;
        let paths = OsPaths::default();
        let order = |r, n, o| -> [Fake; 4] {
            [
                Fake(Resolved, r),
                Fake(NetworkManager, n),
                Fake(Openresolv, o),
                Fake(ResolvConf, true),
            ]
        };
        for ((r, n, o), chosen) in [
            ((true, true, true), Resolved),
            ((false, true, true), NetworkManager),
            ((false, false, true), Openresolv),
            ((false, false, false), ResolvConf),
        ] {
            let fakes = order(r, n, o);
            let list: Vec<&dyn DnsBackend> = fakes.iter().map(|f| f as &dyn DnsBackend).collect();
            assert_eq!(choose(&list, &paths).await, chosen);
        }
        assert_eq!(
            choose(&[], &paths).await,
            ResolvConf,
            "nothing detected: the plain file"
        );
    }

    #[test]
    fn new_backends_parse_and_old_names_keep_their_meaning() {
        assert_eq!(
            BackendKind::parse("networkmanager"),
            Some(BackendKind::NetworkManager)
        );
        assert_eq!(BackendKind::parse("openresolv"), Some(BackendKind::Openresolv));
        assert_eq!(BackendKind::parse("resolvconf"), Some(BackendKind::ResolvConf));
        assert!(BackendKind::NetworkManager.is_split());
        assert!(!BackendKind::Openresolv.is_split());
        let json = serde_json::to_string(&BackendKind::NetworkManager).unwrap();
        assert_eq!(json, "\"networkmanager\"");
    }

    #[test]
    fn a_state_written_before_the_interface_field_still_reads() {
        let old = r#"{"backend":"resolved","paths":{"resolv_conf":{"target":"/etc/resolv.conf","backup":"/b"},"macos_resolver_dir":null},"ifindex":7}"#;
        let state: DnsState = serde_json::from_str(old).unwrap();
        assert_eq!(state.ifindex, Some(7));
        assert_eq!(state.interface, None);
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = DnsState {
            backend: BackendKind::ResolvConf,
            paths: OsPaths::default(),
            ifindex: None,
            interface: None,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"resolv-conf\""));
        assert_eq!(serde_json::from_str::<DnsState>(&json).unwrap(), state);
    }
}
