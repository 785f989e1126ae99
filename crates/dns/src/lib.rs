//! kubewire-dns: the split resolver (cluster zone to the cluster DNS over the tunnel) and the per-OS
//! split-DNS backends that point the OS at it.
//!
//! The daemon's part, in order:
//! 1. at every start, before anything else: [`os::restore_at_start`] with the [`os::DnsState`] it
//!    persisted last time (or `None`): undoes what a crashed run left behind;
//! 2. on connect: [`os::OsDns::detect`], [`os::OsDns::listen_addr`], [`os::OsDns::upstreams`]
//!    (resolv.conf mode: the original nameservers), [`SplitResolver::start`] with
//!    [`ResolverConfig::from_plan`], then [`os::OsDns::prepare`] -> persist the returned
//!    [`os::DnsState`] -> [`os::OsDns::apply`] -> [`os::OsDns::watch`] (resolved restarts; in
//!    resolv.conf mode, other writers of the file: see `os::linux::resolv_conf_watch`);
//! 3. on a new Plan: [`SplitResolver::update`] and, if the settings changed, `apply` again;
//! 4. on disconnect: abort the watch and await it, [`os::OsDns::revert`], then [`SplitResolver::stop`], then forget the state.

mod config;
pub mod durable;
mod error;
pub mod fault;
pub mod os;
pub use os::{BackendKind, DnsState, OsDns, OsPaths, SplitDnsSettings, Warnings, restore_at_start};
mod resolver;
pub mod reverse;
pub mod route;

pub use config::{LOOPBACK_LISTEN, ResolverConfig};
pub use error::DnsError;
/// The packet path without sockets, for the `dns_packet` fuzz target (not an API).
#[doc(hidden)]
pub use resolver::fuzzing;
pub use resolver::{BridgeListener, BridgeStarter, SplitResolver, UpstreamsHandle, domain_probe};

/// The longest TTL (seconds) the resolver keeps an answer for or hands to the OS, whatever the
/// upstream or the cluster says: a poisoned or hostile answer lives at most this long.
pub const MAX_TTL: u32 = 300;
