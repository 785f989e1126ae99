//! The private API every OS implements; `Imp` is this OS's implementation.

use ipnet::IpNet;
use kubewire_core::PublicKey;

use crate::{Backend, InterfaceSpec, PeerSpec, PeerStats, PrivateKeyText, TunnelError};

#[cfg(target_os = "linux")]
pub(crate) use crate::linux::{Linux as Imp, boringtun_threads, cleanup_leftover, local_networks, path_mtu};
#[cfg(target_os = "macos")]
pub(crate) use crate::macos::{Macos as Imp, cleanup_leftover, local_networks, path_mtu};
/// Only counted on Linux; elsewhere BoringTun's threads are assumed alive.
#[cfg(not(target_os = "linux"))]
pub(crate) fn boringtun_threads() -> usize {
    usize::MAX
}
#[cfg(target_os = "windows")]
pub(crate) use crate::windows::{Windows as Imp, cleanup_leftover, local_networks, path_mtu};

/// One live WireGuard interface. Calls block; the caller runs them on a blocking thread under a
/// timeout.
pub(crate) trait Platform: Send + Sized + 'static {
    /// Creates the interface, sets MTU, address and private key.
    fn create(spec: &InterfaceSpec, key: &PrivateKeyText) -> Result<Self, TunnelError>;
    fn name(&self) -> &str;
    fn backend(&self) -> Backend;
    /// Adds a peer whose key the interface does not have.
    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), TunnelError>;
    fn remove_peer(&mut self, key: &PublicKey) -> Result<(), TunnelError>;
    fn add_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError>;
    /// Removes routes through this interface; absent ones are fine.
    fn remove_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError>;
    /// Sets the interface's MTU on the live interface.
    fn set_mtu(&mut self, mtu: u16) -> Result<(), TunnelError>;
    fn read_peers(&self) -> Result<Vec<PeerStats>, TunnelError>;
    /// Removes the interface (the caller drops the value afterwards).
    fn remove(&mut self) -> Result<(), TunnelError>;
}
