//! Durable file changes for everything the daemon writes (resolv.conf and its backup, macOS resolver
//! files, the daemon's state file): a crash at any instant leaves either the old or the new bytes.
//!
//! - [`write_atomic`]: a temporary file next to the target, written and fsync'd, renamed over the
//!   target, then the directory fsync'd (the rename itself is durable).
//! - [`replace`]: the same where possible; a file that is a mount point (`ip netns exec` and
//!   containers bind-mount `/etc/resolv.conf`) cannot be renamed over (EBUSY), so it is rewritten
//!   in place (truncate, write, fsync). A crash then leaves a prefix of the new bytes: callers must
//!   recognise any prefix of what they write as theirs (resolv.conf's header does).
//! - [`remove`]: unlink, then fsync the directory.
//!
//! Every step is a [`crate::fault::point`] named `<label>:<step>`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::fault::point;

/// The suffix of our temporary files (`.<name>.kubewire-tmp`, next to the target).
pub const TEMP_SUFFIX: &str = ".kubewire-tmp";

/// Debug builds: `KUBEWIRE_FAULT_IN_PLACE=1` makes [`replace`] always write in place, so the crash
/// tests cover the bind-mount path without a mount.
pub const IN_PLACE_ENV: &str = "KUBEWIRE_FAULT_IN_PLACE";

/// The temporary file [`write_atomic`] uses for `path`.
#[must_use]
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{TEMP_SUFFIX}"))
}

/// Whether a file name is one of our temporary files (left by a crash; safe to delete).
#[must_use]
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// Writes `bytes` to `path` atomically and durably, with `mode` (Unix) for a new file; an existing
/// file's mode and owner are kept. `label` names the fault points.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, label: &str) -> io::Result<()> {
    let tmp = temp_path(path);
    let existing = std::fs::metadata(path).ok();
    // A leftover of a crash may have another mode.
    let _ = std::fs::remove_file(&tmp);
    let mut file = create(&tmp, mode)?;
    #[cfg(unix)]
    if let Some(meta) = &existing {
        use std::os::unix::fs::MetadataExt as _;
        file.set_permissions(meta.permissions())?;
        // Best effort: only root can give a file away, and then the owner is usually root anyway.
        let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
    }
    #[cfg(not(unix))]
    let _ = existing;
    file.write_all(bytes)?;
    point(label, "temp-written");
    file.sync_all()?;
    drop(file);
    point(label, "temp-synced");
    std::fs::rename(&tmp, path)?;
    point(label, "renamed");
    sync_parent(path)?;
    point(label, "dir-synced");
    Ok(())
}

/// Replaces the content of `path` (a symlink is followed: its target is written), atomically where
/// the file can be renamed over, else in place (see the module's doc). Creates it if missing.
pub fn replace(path: &Path, bytes: &[u8], label: &str) -> io::Result<()> {
    let real = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_owned(),
    };
    if force_in_place() || is_mount_point(&real) {
        return write_in_place(&real, bytes, label);
    }
    match write_atomic(&real, bytes, 0o644, label) {
        // A bind-mounted file (EBUSY), or a directory we may not create files in.
        Err(e) if is_refused_rename(&e) => {
            let _ = std::fs::remove_file(temp_path(&real));
            tracing::debug!(path = %real.display(), error = %e, "cannot rename over the file; writing in place");
            write_in_place(&real, bytes, label)
        }
        other => other,
    }
}

/// Removes `path` durably (missing is fine).
pub fn remove(path: &Path, label: &str) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    point(label, "removed");
    sync_parent(path)?;
    point(label, "dir-synced");
    Ok(())
}

/// Truncates and rewrites `path` (same inode), fsync'd. A crash leaves a prefix of `bytes`.
fn write_in_place(path: &Path, bytes: &[u8], label: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    point(label, "in-place-truncated");
    let half = bytes.len() / 2;
    file.write_all(&bytes[..half])?;
    point(label, "in-place-half-written");
    file.write_all(&bytes[half..])?;
    point(label, "in-place-written");
    file.sync_all()?;
    point(label, "in-place-synced");
    Ok(())
}

fn create(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// fsync of the directory holding `path`, so that a rename or unlink in it survives a power loss.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory as a file without extra flags; NTFS journals renames.
        let _ = path;
        Ok(())
    }
}

fn is_refused_rename(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ResourceBusy
            | io::ErrorKind::CrossesDevices
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

fn force_in_place() -> bool {
    cfg!(debug_assertions) && std::env::var_os(IN_PLACE_ENV).is_some_and(|v| v == "1")
}

/// Whether `path` is a mount point of its own (a bind-mounted file), from `/proc/self/mountinfo`.
fn is_mount_point(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|mount| Path::new(&unescape(mount)) == real)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
#[cfg(target_os = "linux")]
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_keeps_the_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.conf");
        write_atomic(&path, b"one", 0o600, "t").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            write_atomic(&path, b"two", 0o600, "t").unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        assert!(!temp_path(&path).exists());
        assert!(is_temp_name(
            &temp_path(&path).file_name().unwrap().to_string_lossy()
        ));
        remove(&path, "t").unwrap();
        remove(&path, "t").unwrap();
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn replace_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("stub-resolv.conf");
        std::fs::write(&real, "nameserver 127.0.0.53\n").unwrap();
        let link = dir.path().join("resolv.conf");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace(&link, b"nameserver 10.0.0.1\n", "t").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"nameserver 10.0.0.1\n");
    }
}
