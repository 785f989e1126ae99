//! kubewire-ipc: the local protocol between the unprivileged user side (CLI, tray app) and the root
//! daemon `kubewired`.
//!
//! - [`messages`]: versioned requests, responses and events (serde, JSON).
//! - [`framing`]: one JSON message per line, bounded in size.
//! - [`client`]: connect to the daemon's socket, send requests, follow events.
//! - [`health`]: when a peer is fresh, stale, never handshaken or in grace (one rule).
//! - [`time`]: Unix time.
//!
//! The private key crosses this socket (and nothing else does it): its type redacts itself in
//! `Debug`, and no message is ever logged whole.

pub mod client;
pub mod framing;
pub mod health;
pub mod limits;
pub mod messages;
#[cfg(unix)]
mod peer;
pub mod pipe_acl;
pub mod problem;
pub mod server;
pub mod time;
#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
pub mod windows;
pub mod windows_identity;

/// This OS's transport (the client side's connect).
#[cfg(unix)]
use unix as transport;
#[cfg(windows)]
use windows as transport;

pub use client::{Client, ClientError};
pub use framing::{FrameError, MAX_FRAME};
pub use health::PeerHealth;
pub use limits::Limits;
pub use messages::*;
pub use problem::Problem;
pub use server::{Connection, PeerIdentity, authorize};

/// Where `kubewired` listens by default.
#[cfg(all(unix, not(target_os = "macos")))]
pub const DEFAULT_SOCKET: &str = "/run/kubewire/kubewired.sock";
/// Where `kubewired` listens by default (macOS has no `/run`; the launchd plist passes the same).
#[cfg(target_os = "macos")]
pub const DEFAULT_SOCKET: &str = "/var/run/kubewire/kubewired.sock";
/// Where `kubewired` listens by default.
#[cfg(windows)]
pub const DEFAULT_SOCKET: &str = r"\\.\pipe\kubewired";
/// The group whose members may use the daemon (besides root).
pub const GROUP: &str = "kubewire";
