//! The per-OS tables: which backends exist on this OS and the order they are tried in
//! (`AUTO`), and the backend for a [`BackendKind`] (`backend`). Every other `cfg` of the DNS
//! backends is one of these module choices.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{AUTO, backend};
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::{AUTO, backend};
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{AUTO, backend};
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod other;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub use other::{AUTO, backend};

use super::BackendKind;
use super::backend::{DnsBackend, Unsupported};

/// A backend this OS does not have: applying it fails with a clear error.
fn unsupported(kind: BackendKind) -> &'static dyn DnsBackend {
    match kind {
        BackendKind::Resolved => &Unsupported {
            kind: BackendKind::Resolved,
            name: "resolved",
            split: true,
        },
        BackendKind::NetworkManager => &Unsupported {
            kind: BackendKind::NetworkManager,
            name: "networkmanager",
            split: true,
        },
        BackendKind::Openresolv => &Unsupported {
            kind: BackendKind::Openresolv,
            name: "openresolv",
            split: false,
        },
        BackendKind::Nrpt => &Unsupported {
            kind: BackendKind::Nrpt,
            name: "nrpt",
            split: true,
        },
        BackendKind::ResolvConf => &Unsupported {
            kind: BackendKind::ResolvConf,
            name: "resolv-conf",
            split: false,
        },
        BackendKind::Macos => &Unsupported {
            kind: BackendKind::Macos,
            name: "macos",
            split: false,
        },
        BackendKind::None => &Unsupported {
            kind: BackendKind::None,
            name: "none",
            split: false,
        },
    }
}
