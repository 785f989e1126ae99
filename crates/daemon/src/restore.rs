//! At start: undo whatever a crashed predecessor left, as its state file says, then delete the file.
//! A corrupt file is named in the log, moved aside (`state.json.corrupt`), and the default interface
//! name is cleaned up instead. Never fails the start: a daemon that crash-loops on its own leftovers
//! helps nobody.

use crate::persist::{PersistError, StateFile};

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

pub fn restore(file: &StateFile) -> Restored {
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
                    if let Err(e) = file.remove() {
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
                    let _ = file.remove();
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
