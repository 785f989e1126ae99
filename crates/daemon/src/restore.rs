//! At start: undo whatever a crashed predecessor left, as its state file says, then delete the file.
//! Every connection the file names is cleaned up. A corrupt file is named in the log, moved aside
//! (`state.json.corrupt`), and every interface named like kubewire's is cleaned up instead. Never fails the start: a daemon that crash-loops on its own leftovers
//! helps nobody.

use crate::error::DaemonError;
use crate::persist::{Journal, PersistError};

/// The interface name of single-connection kubewired, still cleaned up when the state file cannot
/// be read (with every interface named like a connection's: [`kubewire_core::connection::is_ours`]).
pub const DEFAULT_INTERFACE: &str = kubewire_core::connection::LEGACY_INTERFACE;

/// What the restore found, for the log and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    Nothing,
    /// Each connection the file named: its interface and what was removed.
    Cleaned(Vec<Cleaned>),
    Corrupt {
        moved_to: Option<String>,
        removed: Vec<String>,
    },
}

/// One connection's leftovers, removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Cleaned {
    pub interface: String,
    pub removed: Vec<String>,
}

/// Every interface on this machine named like one of ours (Linux: `/sys/class/net`; elsewhere
/// none is listed, and the state file's names are all there is).
fn our_interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| kubewire_core::connection::is_ours(n))
                .collect()
        })
        .unwrap_or_default();
    if !names.iter().any(|n| n == DEFAULT_INTERFACE) {
        names.push(DEFAULT_INTERFACE.to_owned());
    }
    names
}

pub fn restore(file: &Journal) -> Restored {
    match file.read_all() {
        Ok(sessions) if sessions.is_empty() => Restored::Nothing,
        Ok(sessions) => {
            let mut cleaned = Vec::new();
            for (name, state) in sessions {
                tracing::info!(
                    file = %file.path().display(),
                    connection = %name,
                    interface = %state.interface,
                    routes = state.routes.len(),
                    pid = state.pid,
                    "a previous kubewired left state behind; cleaning up"
                );
                let removed = match kubewire_tunnel::cleanup_leftover(&state.interface, &state.routes) {
                    Ok(removed) => {
                        if let Err(e) = file.forget(&name) {
                            tracing::error!(error = %e, "could not update the state file");
                        }
                        removed
                    }
                    Err(e) => {
                        tracing::error!(error = %e, interface = %state.interface, "cleanup of the previous session failed");
                        Vec::new()
                    }
                };
                if let Err(e) = crate::inbound::remove(&state.interface) {
                    tracing::error!(error = %e, interface = %state.interface, "removing the inbound filter failed");
                }
                for what in &removed {
                    tracing::info!(removed = %what, "cleaned up");
                }
                cleaned.push(Cleaned {
                    interface: state.interface,
                    removed,
                });
            }
            Restored::Cleaned(cleaned)
        }
        Err(err @ PersistError::Corrupt { .. }) => {
            tracing::error!(
                file = %file.path().display(),
                error = %err,
                "the state file is corrupt; moving it aside and removing interfaces named like kubewire's ({DEFAULT_INTERFACE}, kubewire-*, kw-*-XXXX)"
            );
            let moved_to = match file.move_aside() {
                Ok(p) => Some(p.display().to_string()),
                Err(e) => {
                    tracing::error!(error = %e, "could not move the corrupt state file aside; deleting it");
                    let _ = file.nothing_live();
                    None
                }
            };
            let mut removed = Vec::new();
            for interface in our_interfaces() {
                match kubewire_tunnel::cleanup_leftover(&interface, &[]) {
                    Ok(r) => removed.extend(r),
                    Err(e) => tracing::error!(error = %e, interface = %interface, "cleanup failed"),
                }
                if let Err(e) = crate::inbound::remove(&interface) {
                    tracing::error!(error = %e, interface = %interface, "removing the inbound filter failed");
                }
            }
            Restored::Corrupt { moved_to, removed }
        }
        Err(err) => {
            tracing::error!(file = %file.path().display(), error = %err, "could not read the state file");
            Restored::Nothing
        }
    }
}

/// Before a new interface is created: an entry of the state file that no live connection holds
/// (`held`: their names) is what a failed removal left (a re-create whose old interface would not
/// go, a failed disconnect). Its DNS change is undone and its interface and routes removed now, so
/// that writing the new state cannot forget them; if they cannot be removed, the caller creates
/// nothing and says so. A corrupt file is moved aside as at start.
pub async fn clear_leftover(file: &Journal, held: &[String]) -> Result<(), DaemonError> {
    let sessions = match file.read_all() {
        Ok(sessions) => sessions,
        Err(err @ PersistError::Corrupt { .. }) => {
            tracing::error!(error = %err, "the state file is corrupt; moving it aside");
            return Ok(file.move_aside().map(drop)?);
        }
        Err(err) => return Err(err.into()),
    };
    for (name, state) in sessions {
        if held.contains(&name) {
            continue;
        }
        clear_one(file, &name, state).await?;
    }
    Ok(())
}

async fn clear_one(file: &Journal, name: &str, state: crate::persist::State) -> Result<(), DaemonError> {
    if let Some(dns) = &state.dns {
        let os = kubewire_dns::OsDns::new(dns.backend, dns.paths.clone());
        if let Err(e) = os.revert(dns).await {
            return Err(DaemonError::RestoreLeftoverDns {
                interface: state.interface,
                reason: e.to_string(),
            });
        }
    }
    let (interface, routes) = (state.interface.clone(), state.routes.clone());
    let removed = tokio::task::spawn_blocking(move || kubewire_tunnel::cleanup_leftover(&interface, &routes))
        .await
        .map_err(|e| DaemonError::Task(e.to_string()))?
        .map_err(|e| DaemonError::RemoveLeftover {
            interface: state.interface.clone(),
            reason: e.to_string(),
        })?;
    if let Err(e) = crate::inbound::remove(&state.interface) {
        tracing::warn!(error = %e, interface = %state.interface, "removing a leftover inbound filter");
    }
    for what in &removed {
        tracing::warn!(removed = %what, "removed what an earlier failed removal left");
    }
    Ok(file.forget(name)?)
}
