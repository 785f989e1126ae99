//! The one network-namespace harness of kubewire's tests (root only).
//!
//! - [`Netns`]: a namespace of the test's own (a unique name from [`unique_name`], or a fixed one
//!   whose leftover from a killed run is removed first), `lo` up; commands inside it
//!   (`ip netns exec`), addresses, veth pairs ([`Netns::veth`]); children spawned inside it are
//!   killed by PID on drop, and so is whatever else still runs there; then the namespace and its
//!   `/etc/netns/<name>` go. Drop runs when a test panics too.
//! - [`Daemon`]: `kubewired` started with its socket, state dir and environment (inside a namespace
//!   or behind any command prefix), waited for until its socket accepts, stopped by PID.
//! - [`can_run`]: whether a test may run here; under `KUBEWIRE_TESTS_STRICT=1` a test that would
//!   skip fails instead.
//!
//! Failures are `Err(String)` with the command and its stderr, so tests can say what went wrong.

mod cmd;
mod daemon;
mod netns;
mod skip;

pub use cmd::{check, output, wait_for};
pub use daemon::{Daemon, DaemonSpec};
pub use netns::{Netns, unique_name};
pub use skip::{can_run, cannot_run};
