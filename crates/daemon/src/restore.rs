//! At start: undo whatever a crashed predecessor left, as its state file says, then delete the file.
//! A corrupt file is named in the log, moved aside (`state.json.corrupt`), and the default interface
//! name is cleaned up instead. Never fails the start: a daemon that crash-loops on its own leftovers
//! helps nobody.

use crate::error::DaemonError;
use crate::persist::{Journal, PersistError};

/// The interface name cleaned up when the state file cannot be read.
pub const DEFAULT_INTERFACE: &str = "kubewire0";

/// What the restore found, for the log and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    Nothing,
    Cleaned {
        interface: String,
        removed: Vec<String>,
    },
    Corrupt {
        moved_to: Option<String>,
        removed: Vec<String>,
    },
}

pub fn restore(file: &Journal) -> Restored {
    match file.read() {
        Ok(None) => Restored::Nothing,
        Ok(Some(state)) => {
            tracing::info!(
                file = %file.path().display(),
                interface = %state.interface,
                routes = state.routes.len(),
                pid = state.pid,
                "a previous kubewired left state behind; cleaning up"
            );
            let removed = match kubewire_tunnel::cleanup_leftover(&state.interface, &state.routes) {
                Ok(removed) => {
                    if let Err(e) = file.nothing_live() {
                        tracing::error!(error = %e, "could not delete the state file");
                    }
                    removed
                }
                Err(e) => {
                    tracing::error!(error = %e, interface = %state.interface, "cleanup of the previous session failed");
                    Vec::new()
                }
            };
            for what in &removed {
                tracing::info!(removed = %what, "cleaned up");
            }
            Restored::Cleaned {
                interface: state.interface,
                removed,
            }
        }
        Err(err @ PersistError::Corrupt { .. }) => {
            tracing::error!(
                file = %file.path().display(),
                error = %err,
                "the state file is corrupt; moving it aside and removing interfaces named {DEFAULT_INTERFACE}"
            );
            let moved_to = match file.move_aside() {
                Ok(p) => Some(p.display().to_string()),
                Err(e) => {
                    tracing::error!(error = %e, "could not move the corrupt state file aside; deleting it");
                    let _ = file.nothing_live();
                    None
                }
            };
            let removed = kubewire_tunnel::cleanup_leftover(DEFAULT_INTERFACE, &[]).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cleanup of {DEFAULT_INTERFACE} failed");
                Vec::new()
            });
            Restored::Corrupt { moved_to, removed }
        }
        Err(err) => {
            tracing::error!(file = %file.path().display(), error = %err, "could not read the state file");
            Restored::Nothing
        }
    }
}

/// Before a new interface is created (no session holds anything): a state file that still names an
/// interface is what a failed removal left (a re-create whose old interface would not go, a failed
/// disconnect). Its DNS change is undone and its interface and routes removed now, so that writing
/// the new state cannot forget them; if they cannot be removed, the caller creates nothing and
/// says so. A corrupt file is moved aside as at start.
pub async fn clear_leftover(file: &Journal) -> Result<(), DaemonError> {
    let state = match file.read() {
        Ok(None) => return Ok(()),
        Ok(Some(state)) => state,
        Err(err @ PersistError::Corrupt { .. }) => {
            tracing::error!(error = %err, "the state file is corrupt; moving it aside");
            return Ok(file.move_aside().map(drop)?);
        }
        Err(err) => return Err(err.into()),
    };
    if let Some(dns) = &state.dns {
        let os = kubewire_dns::OsDns::new(dns.backend, dns.paths.clone());
        if let Err(e) = os.revert(dns).await {
            return Err(DaemonError::RestoreLeftoverDns {
                interface: state.interface,
                reason: e.to_string(),
            });
        }
    }
    let (name, routes) = (state.interface.clone(), state.routes.clone());
    let removed = tokio::task::spawn_blocking(move || kubewire_tunnel::cleanup_leftover(&name, &routes))
        .await
        .map_err(|e| DaemonError::Task(e.to_string()))?
        .map_err(|e| DaemonError::RemoveLeftover {
            interface: state.interface.clone(),
            reason: e.to_string(),
        })?;
    for what in &removed {
        tracing::warn!(removed = %what, "removed what an earlier failed removal left");
    }
    Ok(file.nothing_live()?)
}
