//! Errors.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The resolver configuration is unusable.
    #[error("invalid resolver configuration: {0}")]
    Config(String),
    /// Binding the resolver's sockets failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The interface does not exist (or has no index).
    #[error("no interface {0}")]
    NoInterface(String),
    /// A D-Bus call to systemd-resolved failed.
    #[cfg(target_os = "linux")]
    #[error("systemd-resolved {method}: {source}")]
    Resolved {
        /// The method called.
        method: &'static str,
        /// Why.
        #[source]
        source: Box<zbus::Error>,
    },
    /// The backend cannot be used on this OS (or is not implemented here).
    #[error("DNS backend {0} is not available on this system")]
    Unsupported(&'static str),
    /// The resolver task failed.
    #[error("resolver: {0}")]
    Server(String),
}

/// Attach a path to an I/O error.
pub(crate) fn file_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DnsError + '_ {
    move |source| DnsError::File {
        path: path.to_owned(),
        source,
    }
}
