//! The link on Unix: a socket in a directory only the user can enter (`$XDG_RUNTIME_DIR/kubewire`,
//! else `<tmp>/kubewire-<uid>`, created 0700 and refused when someone else owns it or may enter it),
//! and every connection's peer checked to be this user.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};

use super::{ReadHalf, WriteHalf};

/// This user's default link path.
#[must_use]
pub fn default_path() -> PathBuf {
    let uid = nix::unistd::geteuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(run) => PathBuf::from(run).join("kubewire"),
        None => std::env::temp_dir().join(format!("kubewire-{uid}")),
    };
    dir.join("tray.sock")
}

/// Makes `dir` (0700) or checks that the existing one is this user's alone.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} must be a directory of yours that only you can enter (mode 0700); remove it and start kubewire again",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn halves(stream: UnixStream) -> (ReadHalf, WriteHalf) {
    let (r, w) = stream.into_split();
    (Box::new(BufReader::new(r)), Box::new(w))
}

/// The listening link.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    /// Held while this process serves the link: two trays started at the same instant cannot both
    /// take the socket.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Listener {
    /// Listens at `path`, replacing a stale socket (the caller found no one answering there).
    /// Another tray serving it is an `AlreadyExists` error.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let lock_path = path.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
            |(_, errno)| {
                if errno == nix::errno::Errno::EWOULDBLOCK {
                    io::Error::new(io::ErrorKind::AlreadyExists, "another kubewire-tray is running")
                } else {
                    io::Error::from(errno)
                }
            },
        )?;
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            listener,
            _lock: lock,
        })
    }

    /// The next connection from this user (others are closed and logged).
    pub async fn accept(&self) -> io::Result<(ReadHalf, WriteHalf)> {
        let me = nix::unistd::geteuid().as_raw();
        loop {
            let (stream, _) = self.listener.accept().await?;
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == me => return Ok(halves(stream)),
                Ok(cred) => tracing::warn!(uid = cred.uid(), "link: refused another user"),
                Err(error) => tracing::warn!(%error, "link: no peer credentials; refused"),
            }
        }
    }
}

/// Connects to the tray at `path`.
pub async fn connect(path: &Path) -> io::Result<(ReadHalf, WriteHalf)> {
    Ok(halves(UnixStream::connect(path).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_directory_is_refused() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("kw");
        private_dir(&dir)?;
        assert_eq!(std::fs::metadata(&dir)?.mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let err = private_dir(&dir).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::PermissionDenied));
        Ok(())
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_the_socket_is_private() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("kw").join("tray.sock");
        let first = Listener::bind(&path)?;
        drop(first);
        let listener = Listener::bind(&path)?;
        assert_eq!(std::fs::metadata(&path)?.mode() & 0o777, 0o600);
        let second = Listener::bind(&path).err().map(|e| e.kind());
        assert_eq!(second, Some(io::ErrorKind::AlreadyExists), "one tray at a time");
        let client = tokio::spawn({
            let path = path.clone();
            async move { connect(&path).await.map(|_| ()) }
        });
        listener.accept().await?;
        client.await.map_err(io::Error::other)??;
        drop(listener);
        crate::link::remove(&path);
        assert!(!path.exists());
        Ok(())
    }
}
