//! Choices the user makes per kubeconfig context and expects remembered: the cluster ranges routed
//! into the tunnel even over a local network that overlaps them (`connect --prefer-tunnel CIDR`, undone
//! by `--lan-wins CIDR`). One JSON file (`preferences.json` in kubewire's state dir), written atomically
//! (temp file, rename); an unreadable file counts as empty, with a warning, and is replaced on the next
//! change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What one context remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextPreferences {
    /// Ranges the tunnel wins over a local network.
    #[serde(default)]
    pub prefer_tunnel: Vec<IpNet>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    contexts: BTreeMap<String, ContextPreferences>,
}

/// What to change for this connection.
#[derive(Debug, Clone, Default)]
pub struct PreferenceChanges {
    /// Where they are kept; `None`: nothing is remembered.
    pub store: Option<PathBuf>,
    /// `--prefer-tunnel`: ranges to add.
    pub add: Vec<IpNet>,
    /// `--lan-wins`: ranges to forget.
    pub remove: Vec<IpNet>,
}

/// kubewire's state dir for this user: `$KUBEWIRE_STATE_DIR`, else the OS's
/// ([`crate::paths::state_dir`]: `$XDG_STATE_HOME/kubewire`, `~/.local/state/kubewire` on Linux);
/// `None` without a home.
#[must_use]
pub fn state_dir() -> Option<PathBuf> {
    crate::paths::state_dir()
}

/// `preferences.json` in kubewire's state dir ([`state_dir`]).
#[must_use]
pub fn default_path() -> Option<PathBuf> {
    state_dir().map(|dir| dir.join("preferences.json"))
}

impl ContextPreferences {
    /// These preferences with `changes` made: added ranges (truncated, once each), removed ones
    /// gone, sorted.
    #[must_use]
    pub fn changed(mut self, changes: &PreferenceChanges) -> Self {
        for range in &changes.add {
            let range = range.trunc();
            if !self.prefer_tunnel.contains(&range) {
                self.prefer_tunnel.push(range);
            }
        }
        self.prefer_tunnel
            .retain(|r| !changes.remove.iter().any(|x| x.trunc() == *r));
        self.prefer_tunnel.sort();
        self
    }
}

fn read(path: &Path) -> File {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(path = %path.display(), %error, "unreadable preferences, starting afresh");
            File::default()
        }),
        Err(_) => File::default(),
    }
}

/// The preferences of `context`.
#[must_use]
pub fn load(path: &Path, context: &str) -> ContextPreferences {
    read(path).contexts.remove(context).unwrap_or_default()
}

/// Applies `changes` to `context`'s preferences and keeps them; returns them.
pub fn update(
    path: &Path,
    context: &str,
    changes: &PreferenceChanges,
) -> std::io::Result<ContextPreferences> {
    let mut file = read(path);
    let kept = file.contexts.remove(context).unwrap_or_default().changed(changes);
    if kept != ContextPreferences::default() {
        file.contexts.insert(context.to_owned(), kept.clone());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn remembered_per_context_and_forgotten_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubewire/preferences.json");
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let add = PreferenceChanges {
            store: None,
            add: vec![net("10.42.3.7/24")],
            remove: vec![],
        };
        let kept = update(&path, "prod", &add).unwrap();
        assert_eq!(kept.prefer_tunnel, vec![net("10.42.3.0/24")]);
        assert_eq!(load(&path, "prod"), kept);
        assert_eq!(load(&path, "staging"), ContextPreferences::default());
        let forget = PreferenceChanges {
            store: None,
            add: vec![],
            remove: vec![net("10.42.3.0/24")],
        };
        assert_eq!(
            update(&path, "prod", &forget).unwrap(),
            ContextPreferences::default()
        );
        assert_eq!(load(&path, "prod"), ContextPreferences::default());
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path, "prod"), ContextPreferences::default());
    }
}
