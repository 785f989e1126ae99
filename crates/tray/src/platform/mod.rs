//! Per-OS parts of [`crate::run`]: the runtime and who owns the main thread (`linux`: the tray is a
//! D-Bus task, one thread is plenty; `native`: macOS's and Windows' trays own the main thread, the
//! tasks run on workers), and the quit signals (`signal_unix`, `signal_other`).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{run_tray, runtime};
#[cfg(not(target_os = "linux"))]
mod native;
#[cfg(not(target_os = "linux"))]
pub use native::{run_tray, runtime};
#[cfg(unix)]
mod signal_unix;
#[cfg(unix)]
pub use signal_unix::quit_requested;
#[cfg(not(unix))]
mod signal_other;
#[cfg(not(unix))]
pub use signal_other::quit_requested;
