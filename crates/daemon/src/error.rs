//! What can go wrong in the daemon, as the client reads it: each error has the code the client
//! branches on and a message that says what happened and what to do. The texts are the ones users
//! (and the tests) have read all along.

use kubewire_dns::{BackendKind, DnsError};
use kubewire_ipc::ErrorCode;
use kubewire_tunnel::TunnelError;

use crate::persist::PersistError;

/// The fix for leftovers the daemon could not remove by itself.
const RESTART: &str = "sudo systemctl restart kubewired";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another user's session: only its owner or root may `action` it.
    #[error("the tunnel belongs to uid {owner}; only that user or root may {action}")]
    NotOwner { owner: u32, action: &'static str },
    /// As many connections as may be up at once are up.
    #[error(
        "already connected to {}: at most {} connections at once; run `kubewire disconnect --name <name>` \
         for one of them first to connect {requested}",
        .held.join(", "),
        crate::decide::MAX_SESSIONS
    )]
    TooManyConnections { held: Vec<String>, requested: String },
    /// Another connection's interface has the name this Plan asks for.
    #[error(
        "{interface} is the interface of the connection {other}; connect {requested} under another \
         name (`kubewire connect --name`)"
    )]
    InterfaceTaken {
        interface: String,
        other: String,
        requested: String,
    },
    /// The Plan's ranges overlap another connection's (translation is not built yet).
    #[error(
        "the ranges {} overlap the connection {other}; translation of overlapping ranges is not built \
         yet: run `kubewire disconnect --name {other}` first to connect {requested}",
        list(.ranges)
    )]
    Overlap {
        other: String,
        requested: String,
        ranges: Vec<ipnet::IpNet>,
    },
    /// A request named a connection the daemon does not hold.
    #[error("no connection named {name} is up (connected: {})", names(.up))]
    NoSuchConnection { name: String, up: Vec<String> },
    /// An `expose` the daemon cannot honour: nothing was opened.
    #[error("nothing was exposed: {0}")]
    Expose(String),
    /// A request that needs one connection named none while several are up.
    #[error("several connections are up ({}): name one (`--name <name>`, or `--all`)", .up.join(", "))]
    WhichConnection { up: Vec<String> },
    /// The backend wedged for good: only a new process frees it.
    #[error("{interface}: {}", TunnelError::Wedged)]
    Wedged { interface: String },
    /// The daemon's own policy check refused the Plan as a whole.
    #[error("the Plan was refused, nothing was changed: {0}")]
    PlanRefused(String),
    #[error("the private key is not base64 of 32 bytes")]
    BadKey,
    #[error(
        "the tunnel was disconnected while this Plan's endpoint names were resolving; nothing was \
         applied (run `kubewire connect` to connect again)"
    )]
    DisconnectedMeanwhile,
    #[error("no tunnel is up (run `kubewire connect`)")]
    NoSession,
    /// What an earlier failed removal left could not be removed: nothing new is created.
    #[error("{0}; nothing new was created (restart kubewired to clean up: {RESTART})")]
    NothingCreated(Box<DaemonError>),
    #[error("{0}")]
    Persist(#[from] PersistError),
    #[error("creating the interface {interface}: {source}")]
    Create {
        interface: String,
        #[source]
        source: TunnelError,
    },
    #[error("applying the Plan to {interface}: {source}")]
    Apply {
        interface: String,
        #[source]
        source: TunnelError,
    },
    #[error("restoring the DNS settings of {interface}: {reason}")]
    RestoreLeftoverDns { interface: String, reason: String },
    #[error("removing the previous interface {interface}: {reason}")]
    RemoveLeftover { interface: String, reason: String },
    /// Disconnect: the interface would not go; the state file keeps it for the next start.
    #[error("removing {interface}: {source}; it will be removed when kubewired restarts ({RESTART})")]
    Remove {
        interface: String,
        #[source]
        source: TunnelError,
    },
    /// Disconnect: the system's DNS settings could not be restored; the state file keeps them.
    #[error("{0}; they will be restored when kubewired restarts ({RESTART})")]
    DnsNotRestored(SplitDnsError),
    /// A blocking task of the daemon ended without an answer.
    #[error("{0}")]
    Task(String),
    #[error("{0} (internal error)")]
    Internal(&'static str),
}

/// A step of the split DNS that failed (a warning of the session: the tunnel works by IP).
#[derive(Debug, thiserror::Error)]
pub enum SplitDnsError {
    #[error("reading the original nameservers: {0}")]
    Upstreams(DnsError),
    #[error("starting the resolver: {0}")]
    StartResolver(DnsError),
    #[error("preparing the {kind:?} backend: {source}")]
    Prepare { kind: BackendKind, source: DnsError },
    #[error("persisting the DNS state: {0}")]
    Persist(PersistError),
    #[error("pointing the system at the resolver ({kind:?}): {source}")]
    PointAt { kind: BackendKind, source: DnsError },
    #[error("updating the resolver: {0}")]
    Update(DnsError),
    #[error("re-applying DNS settings: {0}")]
    Reapply(DnsError),
    #[error("restoring the system's DNS settings: {0}")]
    Restore(DnsError),
}

/// `a, b`, or `none`.
fn names(up: &[String]) -> String {
    if up.is_empty() {
        "none".to_owned()
    } else {
        up.join(", ")
    }
}

/// `a, b, c`, at most 5 then `and N more`.
fn list(ranges: &[ipnet::IpNet]) -> String {
    use std::fmt::Write as _;
    let mut text = ranges
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ranges.len() > 5 {
        let _ = write!(text, " and {} more", ranges.len() - 5);
    }
    text
}

impl DaemonError {
    /// The code the client branches on.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotOwner { .. } => ErrorCode::NotOwner,
            Self::PlanRefused(_) => ErrorCode::PlanRefused,
            Self::BadKey | Self::Expose(_) => ErrorCode::BadRequest,
            Self::NoSession | Self::NoSuchConnection { .. } => ErrorCode::NoSession,
            Self::Overlap { .. } => ErrorCode::Overlap,
            _ => ErrorCode::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_users_read_are_kept() {
        let e = DaemonError::NotOwner {
            owner: 1000,
            action: "end it",
        };
        assert_eq!(
            e.to_string(),
            "the tunnel belongs to uid 1000; only that user or root may end it"
        );
        assert_eq!(e.code(), ErrorCode::NotOwner);
        let e = DaemonError::NothingCreated(Box::new(DaemonError::RemoveLeftover {
            interface: "kubewire0".into(),
            reason: "busy".into(),
        }));
        assert_eq!(
            e.to_string(),
            "removing the previous interface kubewire0: busy; nothing new was created (restart \
             kubewired to clean up: sudo systemctl restart kubewired)"
        );
        assert_eq!(
            DaemonError::PlanRefused("a default route".into()).to_string(),
            "the Plan was refused, nothing was changed: a default route"
        );
        assert_eq!(DaemonError::BadKey.code(), ErrorCode::BadRequest);
        assert!(
            DaemonError::Wedged {
                interface: "kubewire0".into()
            }
            .to_string()
            .starts_with("kubewire0: the interface is wedged")
        );
    }
}
