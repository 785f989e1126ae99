//! Where kubewire keeps a user's files, by each OS's conventions (the `directories` crate's
//! `ProjectDirs`):
//!
//! | | config (keys, tray settings) | state (preferences, controller log/pid) |
//! | --- | --- | --- |
//! | Linux | `$XDG_CONFIG_HOME/kubewire` (`~/.config/kubewire`) | `$XDG_STATE_HOME/kubewire` (`~/.local/state/kubewire`) |
//! | macOS | `~/Library/Application Support/kubewire` | `~/Library/Application Support/kubewire` |
//! | Windows | `%APPDATA%\kubewire\config` | `%LOCALAPPDATA%\kubewire\data` |
//!
//! On Linux these are exactly the paths of earlier versions. Where an earlier version kept a file
//! elsewhere (macOS: state under `~/Library/Caches/kubewire`; Windows: `%APPDATA%\kubewire` and
//! `%LOCALAPPDATA%\kubewire`), it is moved here once, the first time the directory is asked for
//! ([`migrate`]). `KUBEWIRE_STATE_DIR` overrides the state directory (nothing is moved then).

mod migrate;

use std::path::PathBuf;

pub use migrate::{Moved, migrate};

/// The files of the config directory an earlier version may have left in its old place.
pub const CONFIG_ENTRIES: &[&str] = &["keys", "settings.json"];
/// The files of the state directory worth moving (the controller's pid, log and status are
/// rewritten by the next controller).
pub const STATE_ENTRIES: &[&str] = &["preferences.json"];

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "kubewire")
}

/// The config directory (see the module's table), with an earlier version's files moved in.
#[must_use]
pub fn config_dir() -> Option<PathBuf> {
    let dir = project()?.config_dir().to_path_buf();
    if let Some(old) = dirs::config_dir().map(|d| d.join("kubewire")) {
        report(&migrate(&old, &dir, CONFIG_ENTRIES));
    }
    Some(dir)
}

/// The state directory: `$KUBEWIRE_STATE_DIR`, else the OS's (see the module's table), with an
/// earlier version's files moved in.
#[must_use]
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBEWIRE_STATE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let project = project()?;
    // Linux has a state dir; macOS and Windows keep state with the app's local data.
    let dir = project
        .state_dir()
        .unwrap_or_else(|| project.data_local_dir())
        .to_path_buf();
    if let Some(old) = dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("kubewire"))
    {
        report(&migrate(&old, &dir, STATE_ENTRIES));
    }
    Some(dir)
}

fn report(moved: &[Moved]) {
    for m in moved {
        match &m.problem {
            None => {
                tracing::info!(from = %m.from.display(), to = %m.to.display(), "moved to this OS's place for it")
            }
            Some(problem) => {
                tracing::warn!(from = %m.from.display(), to = %m.to.display(), %problem, "not moved; the old file stays")
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// On Linux nothing moves: the directories are the XDG ones of earlier versions.
    #[test]
    fn linux_paths_are_the_xdg_paths_of_earlier_versions() {
        let project = super::project().unwrap();
        assert_eq!(
            Some(project.config_dir().to_path_buf()),
            dirs::config_dir().map(|d| d.join("kubewire"))
        );
        assert_eq!(
            project.state_dir().map(std::path::Path::to_path_buf),
            dirs::state_dir().map(|d| d.join("kubewire"))
        );
    }
}
