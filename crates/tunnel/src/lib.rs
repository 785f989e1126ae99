//! kubewire-tunnel: the laptop's WireGuard interface and its routes behind one API.
//!
//! - [`Tunnel::create`] makes the interface (kernel WireGuard when the kernel has it, else BoringTun
//!   in-process through `defguard_wireguard_rs`), sets its address, MTU and private key.
//! - [`Tunnel::apply`] brings peers and routes to a desired [`Config`], running only the
//!   operations [`diff()`] computes (a changed peer is removed and added again, never updated in place).
//! - [`Tunnel::stats`] reads per-peer handshake, bytes and endpoint; [`Tunnel::remove`] takes it all down.
//! - [`cleanup_leftover`] undoes what a crashed process left; [`local_networks`] reads the machine's own
//!   networks for the safety policy.
//!
//! Every call into the WireGuard backend runs on a blocking thread under a timeout: a backend that does
//! not answer (BoringTun wedges after a panic) is reported as [`TunnelError::Timeout`] and the tunnel is
//! marked wedged, so later calls fail at once instead of hanging.

mod diff;
mod path_mtu;
mod platform;
mod resolve;
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
mod route_exe;
mod wgconv;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "windows")]
mod windows;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::PublicKey;
pub use kubewire_core::lan_yield::LocalNetwork;
use serde::{Deserialize, Serialize};

pub use diff::{Config, Op, PeerSpec, diff};
pub use resolve::{
    Endpoints, Lookup, LookupFuture, Resolved, config_of, resolve_endpoints, resolve_plan, system_lookup,
};

use platform::{Imp, Platform};

/// Which WireGuard implementation runs the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The OS kernel's WireGuard (Linux module, Windows WireGuardNT).
    Kernel,
    /// BoringTun, in this process.
    Boringtun,
}

impl Backend {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Boringtun => "boringtun",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The interface to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub name: String,
    pub address: IpNet,
    pub mtu: u16,
    pub listen_port: Option<u16>,
}

/// A private key as base64 text; never printed.
#[derive(Clone)]
pub struct PrivateKeyText(pub String);

impl std::fmt::Debug for PrivateKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyText(<redacted>)")
    }
}

/// Live statistics of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    pub public_key: PublicKey,
    pub endpoint: Option<std::net::SocketAddr>,
    /// Unix seconds of the last handshake; `None`: never.
    pub last_handshake: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("the WireGuard backend did not answer {what} within {after:?}; the interface is wedged")]
    Timeout { what: &'static str, after: Duration },
    #[error(
        "the interface is wedged by an earlier failure of the WireGuard backend; restart kubewired to recover \
         (sudo systemctl restart kubewired)"
    )]
    Wedged,
    #[error("the interface is gone")]
    Gone,
    #[error("interface name {0:?} is in use by another process")]
    NameInUse(String),
    #[error("{what}: {message}")]
    Backend { what: &'static str, message: String },
    #[error("{what}: `{command}` failed: {stderr}")]
    Command {
        what: &'static str,
        command: String,
        stderr: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the WireGuard backend crashed during {0}")]
    Panicked(&'static str),
}

/// How long one backend call may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What one [`Tunnel::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub peers_added: Vec<PublicKey>,
    pub peers_removed: Vec<PublicKey>,
    pub routes_added: Vec<IpNet>,
    pub routes_removed: Vec<IpNet>,
}

/// The live interface.
pub struct Tunnel {
    imp: Arc<Mutex<Option<Imp>>>,
    spec: InterfaceSpec,
    name: String,
    backend: Backend,
    live: Config,
    wedged: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("peers", &self.live.peers.len())
            .field("routes", &self.live.routes.len())
            .field("wedged", &self.wedged)
            .finish()
    }
}

async fn blocking<T, F>(what: &'static str, timeout: Duration, f: F) -> Result<T, TunnelError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, TunnelError> + Send + 'static,
{
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(f)).await {
        Err(_) => Err(TunnelError::Timeout { what, after: timeout }),
        Ok(Err(_)) => Err(TunnelError::Panicked(what)),
        Ok(Ok(result)) => result,
    }
}

impl Tunnel {
    /// Creates and configures the interface (no peers yet). Fails if a live process already serves
    /// an interface of that name.
    pub async fn create(
        spec: &InterfaceSpec,
        private_key: &PrivateKeyText,
        timeout: Duration,
    ) -> Result<Self, TunnelError> {
        let s = spec.clone();
        let key = private_key.clone();
        let imp = blocking("creating the interface", timeout, move || Imp::create(&s, &key)).await?;
        let name = imp.name().to_owned();
        let backend = imp.backend();
        tracing::info!(interface = %name, backend = %backend, mtu = spec.mtu, "WireGuard interface created");
        Ok(Self {
            imp: Arc::new(Mutex::new(Some(imp))),
            spec: spec.clone(),
            name,
            backend,
            live: Config::default(),
            wedged: false,
            timeout,
        })
    }

    /// The OS's name of the interface (macOS: `utunN`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What the interface was created with.
    #[must_use]
    pub fn spec(&self) -> &InterfaceSpec {
        &self.spec
    }

    /// Peers and routes as last applied.
    #[must_use]
    pub fn live(&self) -> &Config {
        &self.live
    }

    #[must_use]
    pub fn is_wedged(&self) -> bool {
        self.wedged
    }

    /// False when the in-process BoringTun has stopped its threads. It does that when it catches a
    /// SIGTERM/SIGINT sent to the process (it installs its own handlers), so the caller should treat
    /// it as that signal. Always true for the kernel backend.
    #[must_use]
    pub fn backend_alive(&self) -> bool {
        self.backend != Backend::Boringtun || platform::boringtun_threads() > 0
    }

    async fn call<T, F>(&mut self, what: &'static str, timeout: Duration, f: F) -> Result<T, TunnelError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Imp) -> Result<T, TunnelError> + Send + 'static,
    {
        if self.wedged {
            return Err(TunnelError::Wedged);
        }
        let imp = Arc::clone(&self.imp);
        let result = blocking(what, timeout, move || {
            let mut guard = imp.lock().map_err(|_| TunnelError::Wedged)?;
            let imp = guard.as_mut().ok_or(TunnelError::Gone)?;
            f(imp)
        })
        .await;
        if matches!(
            result,
            Err(TunnelError::Timeout { .. } | TunnelError::Panicked(_))
        ) {
            tracing::error!(interface = %self.name, what, "WireGuard backend stopped answering; interface marked wedged");
            self.wedged = true;
        }
        result
    }

    /// Brings peers and routes to `desired`, running only the difference. On an error the live
    /// record keeps what did succeed, so the next apply continues from the truth.
    pub async fn apply(&mut self, desired: &Config) -> Result<Applied, TunnelError> {
        let ops = diff(&self.live, desired);
        let mut applied = Applied::default();
        for op in ops {
            match op {
                Op::RemovePeer(key) => {
                    let t = self.timeout;
                    self.call("removing a peer", t, move |imp| imp.remove_peer(&key))
                        .await?;
                    self.live.peers.remove(&key);
                    applied.peers_removed.push(key);
                }
                Op::AddPeer(peer) => {
                    // Never configure a key the interface already has (BoringTun would panic).
                    if self.live.peers.contains_key(&peer.public_key) {
                        return Err(TunnelError::Backend {
                            what: "adding a peer",
                            message: "the key is still present (internal error)".into(),
                        });
                    }
                    let t = self.timeout;
                    let p = peer.clone();
                    self.call("adding a peer", t, move |imp| imp.add_peer(&p)).await?;
                    applied.peers_added.push(peer.public_key);
                    self.live.peers.insert(peer.public_key, peer);
                }
                Op::RemoveRoutes(routes) => {
                    let t = self.timeout + Duration::from_millis(2) * routes.len() as u32;
                    let r = routes.clone();
                    self.call("removing routes", t, move |imp| imp.remove_routes(&r))
                        .await?;
                    for net in &routes {
                        self.live.routes.remove(net);
                    }
                    applied.routes_removed.extend(routes);
                }
                Op::AddRoutes(routes) => {
                    let t = self.timeout + Duration::from_millis(2) * routes.len() as u32;
                    let r = routes.clone();
                    // Record first: if adding fails half-way, the removal on disconnect covers them.
                    self.live.routes.extend(routes.iter().copied());
                    self.call("adding routes", t, move |imp| imp.add_routes(&r))
                        .await?;
                    applied.routes_added.extend(routes);
                }
            }
        }
        Ok(applied)
    }

    /// Starts every peer's handshake over from the laptop's current address: each peer with an
    /// endpoint is removed and added again with the same settings (never modified in place:
    /// BoringTun panics on that). A socket the backend tied to an address the laptop no longer has
    /// (it roamed) or a session that aged out (it slept) goes with it; the next packet handshakes at
    /// once. Returns the keys renewed.
    pub async fn renew_peers(&mut self) -> Result<Vec<kubewire_core::PublicKey>, TunnelError> {
        let peers: Vec<PeerSpec> = self
            .live
            .peers
            .values()
            .filter(|p| p.endpoint.is_some())
            .cloned()
            .collect();
        let mut renewed = Vec::with_capacity(peers.len());
        for peer in peers {
            let (key, t) = (peer.public_key, self.timeout);
            self.call("removing a peer", t, move |imp| imp.remove_peer(&key))
                .await?;
            self.live.peers.remove(&key);
            let p = peer.clone();
            self.call("adding a peer", t, move |imp| imp.add_peer(&p)).await?;
            self.live.peers.insert(key, peer);
            renewed.push(key);
        }
        Ok(renewed)
    }

    /// Sets the interface's MTU in place (flows keep going; the spec records it).
    pub async fn set_mtu(&mut self, mtu: u16) -> Result<(), TunnelError> {
        if self.spec.mtu == mtu {
            return Ok(());
        }
        let t = self.timeout;
        self.call("setting the MTU", t, move |imp| imp.set_mtu(mtu))
            .await?;
        tracing::info!(interface = %self.name, from = self.spec.mtu, to = mtu, "MTU changed");
        self.spec.mtu = mtu;
        Ok(())
    }

    /// Per-peer statistics.
    pub async fn stats(&mut self) -> Result<Vec<PeerStats>, TunnelError> {
        let t = self.timeout;
        self.call("reading peer statistics", t, |imp| imp.read_peers())
            .await
    }

    /// Removes routes and the interface. A wedged interface cannot be removed from here: it goes
    /// away with the process (the error says so).
    pub async fn remove(mut self) -> Result<(), TunnelError> {
        let routes: Vec<IpNet> = self.live.routes.iter().copied().collect();
        let t = self.timeout + Duration::from_millis(2) * routes.len() as u32;
        let name = self.name.clone();
        if self.wedged {
            // Routes go through `ip`, not the backend: remove them anyway.
            let _ = blocking("removing routes", t, move || cleanup_leftover(&name, &routes)).await;
            return Err(TunnelError::Wedged);
        }
        let removed = self
            .call("removing the interface", t, move |imp| {
                imp.remove_routes(&routes)?;
                imp.remove()
            })
            .await;
        // Dropping the backend frees the link and its threads (~50 ms for BoringTun).
        let imp = Arc::clone(&self.imp);
        let dropped = blocking("releasing the interface", self.timeout, move || {
            let taken = imp.lock().map_err(|_| TunnelError::Wedged)?.take();
            drop(taken);
            Ok(())
        })
        .await;
        tracing::info!(interface = %self.name, "WireGuard interface removed");
        removed.and(dropped)
    }
}

/// Removes what a crashed process may have left: the routes through `interface`, the interface
/// itself, and a stale userspace control socket (only when no live process answers on it). What was
/// found and removed is returned, for the log.
pub fn cleanup_leftover(interface: &str, routes: &[IpNet]) -> Result<Vec<String>, TunnelError> {
    platform::cleanup_leftover(interface, routes)
}

/// The machine's own networks (routes of the main table and the addresses' prefixes), leaving out
/// the default route and everything on `exclude_interface` (our own tunnel).
pub fn local_networks(exclude_interface: Option<&str>) -> Result<Vec<IpNet>, TunnelError> {
    Ok(platform::local_networks(exclude_interface)?
        .into_iter()
        .map(|l| l.net)
        .collect())
}

/// [`local_networks`] with the interface each is on (when the OS says).
pub fn local_networks_named(exclude_interface: Option<&str>) -> Result<Vec<LocalNetwork>, TunnelError> {
    platform::local_networks(exclude_interface)
}

/// The MTU of the route towards `addr` (the route's own MTU, else its device's), `None` when the OS
/// does not say (no route; Windows for now). Blocking: it runs the OS's route tool.
#[must_use]
pub fn path_mtu(addr: IpAddr) -> Option<u16> {
    platform::path_mtu(addr)
}

/// Whether `ip` is an address a peer endpoint may have (a sanity check on resolved names).
#[must_use]
pub fn is_usable_endpoint(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backend_call_that_hangs_is_a_timeout_not_a_hang() {
        let started = std::time::Instant::now();
        let result = blocking("reading peer statistics", Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        })
        .await;
        assert!(matches!(
            result,
            Err(TunnelError::Timeout {
                what: "reading peer statistics",
                ..
            })
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let message = result.unwrap_err().to_string();
        assert!(message.contains("wedged"), "{message}");
    }

    #[tokio::test]
    async fn a_backend_panic_is_an_error() {
        let result: Result<(), _> =
            blocking("adding a peer", Duration::from_secs(1), || panic!("boom")).await;
        assert!(matches!(result, Err(TunnelError::Panicked("adding a peer"))));
    }
}
