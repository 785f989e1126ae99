//! What differs per OS in the daemon's shell, behind one API: the listener (Unix socket / named
//! pipe), the stop request (SIGTERM or SIGINT / the service control manager's Stop), whether a
//! daemon answers already, and files only the daemon may read. Everything else is shared.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;
