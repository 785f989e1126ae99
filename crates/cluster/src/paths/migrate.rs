//! Moving an earlier version's files to their new place, once: each named entry is renamed (a move
//! on the same volume: atomic, nothing copied); across volumes it is copied beside its destination,
//! synced, renamed into place, and only then removed from the old place. A crash at any instant
//! leaves the file in the old place, or in the new one, or (between the last two steps) in both, and
//! a half copy only under a temporary name that the next run removes. An entry already in the new
//! place is never overwritten.

use std::io;
use std::path::{Path, PathBuf};

/// One entry that was (or could not be) moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Where it was.
    pub from: PathBuf,
    /// Where it is now.
    pub to: PathBuf,
    /// Why it stayed, if it did.
    pub problem: Option<String>,
}

/// Moves `entries` from `old` to `new` where `old` has them and `new` does not; what happened.
/// Nothing when both are the same directory.
#[must_use]
pub fn migrate(old: &Path, new: &Path, entries: &[&str]) -> Vec<Moved> {
    if old == new {
        return Vec::new();
    }
    let mut moved = Vec::new();
    for name in entries {
        let from = old.join(name);
        let to = new.join(name);
        if from.symlink_metadata().is_err() || to.symlink_metadata().is_ok() {
            continue;
        }
        let problem = move_entry(&from, &to).err().map(|e| e.to_string());
        moved.push(Moved { from, to, problem });
    }
    moved
}

fn move_entry(from: &Path, to: &Path) -> io::Result<()> {
    let parent = to
        .parent()
        .ok_or_else(|| io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        // Another volume (or a rename the OS refuses): copy, sync, rename into place, then remove.
        Err(_) => {
            let tmp = parent.join(format!(
                ".{}.moving",
                to.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let _ = remove(&tmp);
            if let Err(e) = copy(from, &tmp).and_then(|()| std::fs::rename(&tmp, to)) {
                let _ = remove(&tmp);
                return Err(e);
            }
            remove(from)
        }
    }
}

fn copy(from: &Path, to: &Path) -> io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)?;
        std::fs::File::open(to)?.sync_all()
    }
}

fn remove(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp HOME with an earlier version's files: macOS-like (state in ~/Library/Caches/kubewire,
    /// now in ~/Library/Application Support/kubewire) and Windows-like (the new place inside the old
    /// one: %APPDATA%\kubewire → %APPDATA%\kubewire\config).
    #[test]
    fn files_move_once_with_their_bytes_and_nothing_is_overwritten() {
        let home = tempfile::tempdir().unwrap();
        let old = home.path().join("Library/Caches/kubewire");
        let new = home.path().join("Library/Application Support/kubewire");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("preferences.json"), b"{\"contexts\":{}}").unwrap();
        let moved = migrate(&old, &new, &["preferences.json", "absent.json"]);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].problem, None);
        assert_eq!(
            std::fs::read(new.join("preferences.json")).unwrap(),
            b"{\"contexts\":{}}"
        );
        assert!(!old.join("preferences.json").exists(), "moved, not copied");
        // Once: a second run finds nothing to do.
        assert!(migrate(&old, &new, &["preferences.json"]).is_empty());
        // A file already in the new place is kept; the old one stays where it is.
        std::fs::write(old.join("preferences.json"), b"old").unwrap();
        assert!(migrate(&old, &new, &["preferences.json"]).is_empty());
        assert_eq!(
            std::fs::read(new.join("preferences.json")).unwrap(),
            b"{\"contexts\":{}}"
        );
        assert_eq!(std::fs::read(old.join("preferences.json")).unwrap(), b"old");

        // Windows-like: the new directory inside the old one; a directory (keys/) moves whole.
        let roaming = home.path().join("AppData/Roaming/kubewire");
        std::fs::create_dir_all(roaming.join("keys")).unwrap();
        std::fs::write(roaming.join("keys/abc.key"), b"secret").unwrap();
        std::fs::write(roaming.join("settings.json"), b"{}").unwrap();
        let config = roaming.join("config");
        let moved = migrate(&roaming, &config, &["keys", "settings.json"]);
        assert_eq!(
            moved.iter().filter(|m| m.problem.is_none()).count(),
            2,
            "{moved:?}"
        );
        assert_eq!(std::fs::read(config.join("keys/abc.key")).unwrap(), b"secret");
        assert_eq!(std::fs::read(config.join("settings.json")).unwrap(), b"{}");
        assert!(!roaming.join("keys").exists() && !roaming.join("settings.json").exists());
        // The same directory: nothing.
        assert!(migrate(&config, &config, &["keys"]).is_empty());
    }

    #[test]
    fn a_copy_across_volumes_keeps_the_bytes_and_removes_the_source_last() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/keys")).unwrap();
        std::fs::write(dir.path().join("a/keys/k"), b"key").unwrap();
        // The fallback path itself (rename is what normally runs).
        copy(&dir.path().join("a/keys"), &dir.path().join("b/.keys.moving")).unwrap();
        std::fs::rename(dir.path().join("b/.keys.moving"), dir.path().join("b/keys")).unwrap();
        remove(&dir.path().join("a/keys")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("b/keys/k")).unwrap(), b"key");
        assert!(!dir.path().join("a/keys").exists());
    }
}
