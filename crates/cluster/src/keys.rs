//! The laptop's WireGuard key pair: created once per cluster (the cluster's identity is its API server
//! URL) and kept in the OS keyring (Secret Service, macOS Keychain, Windows Credential Manager). Where
//! no keyring service runs, a 0600 file under the user's config dir
//! (`$XDG_CONFIG_HOME/kubewire/keys/`, `~/.config/kubewire/keys/`) holds it instead, and the log says
//! so. A preshared key (`connect --psk`, `enroll --print --psk`) is kept beside it: the keyring entry
//! `<server>#psk`, else the file `<id>.psk`. Key material is never logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kubewire_core::{PresharedKey, PrivateKey, PublicKey};

use crate::error::ClusterError;

/// The keyring service name entries are stored under.
pub const KEYRING_SERVICE: &str = "kubewire";
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// The laptop's key pair for one cluster.
#[derive(Clone)]
pub struct KeyPair {
    /// The private key (never logged; `Debug` redacts it).
    pub private: PrivateKey,
    /// The public key.
    pub public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Result<Self, ClusterError> {
        let secret = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &x25519_dalek::StaticSecret) -> Result<Self, ClusterError> {
        let public = x25519_dalek::PublicKey::from(secret);
        let private = STANDARD
            .encode(secret.to_bytes())
            .parse()
            .map_err(|e| ClusterError::Key(format!("{e}")))?;
        Ok(Self {
            private,
            public: PublicKey::from_bytes(*public.as_bytes()),
        })
    }

    /// The pair from a base64 private key.
    pub fn from_private_base64(text: &str) -> Result<Self, ClusterError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| ClusterError::Key("the stored private key is not base64".into()))?;
        let bytes = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| ClusterError::Key("the stored private key is not 32 bytes".into()))?;
        Self::from_secret(&x25519_dalek::StaticSecret::from(bytes))
    }
}

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The OS keyring.
    Keyring,
    /// The fallback file.
    File(PathBuf),
    /// Not stored: a throwaway key for a preview.
    Ephemeral,
}

/// Where keys are kept.
#[derive(Debug, Clone)]
pub struct KeyStore {
    /// Try the OS keyring first.
    pub use_keyring: bool,
    /// The directory of the fallback files.
    pub dir: PathBuf,
}

/// A file-name-safe id of a cluster URL: FNV-1a 64 of the URL, hex.
#[must_use]
pub fn cluster_id(server: &str) -> String {
    let h = server
        .trim_end_matches('/')
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{h:016x}")
}

enum KeyringAnswer {
    Found(String),
    Missing,
    Unavailable(String),
}

impl KeyStore {
    /// The default store: the keyring (unless `KUBEWIRE_KEYRING=off`), and files under the user's
    /// config dir.
    pub fn default_store() -> Result<Self, ClusterError> {
        let base = crate::paths::config_dir()
            .ok_or_else(|| ClusterError::Key("the user has no config directory (HOME unset?)".into()))?;
        Ok(Self {
            use_keyring: std::env::var("KUBEWIRE_KEYRING").map_or(true, |v| v != "off"),
            dir: base.join("keys"),
        })
    }

    /// The fallback file for a cluster.
    #[must_use]
    pub fn file_for(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{}.key", cluster_id(server)))
    }

    /// The cluster's key pair: the stored one, else a new one stored now.
    pub async fn load_or_create(&self, server: &str) -> Result<(KeyPair, KeySource), ClusterError> {
        if self.use_keyring {
            match keyring_get(server).await {
                KeyringAnswer::Found(text) => {
                    tracing::debug!(cluster = %cluster_id(server), "key read from the OS keyring");
                    return Ok((KeyPair::from_private_base64(&text)?, KeySource::Keyring));
                }
                KeyringAnswer::Missing => {
                    // A key kept in a file earlier (when no keyring ran) stays the key.
                    if let Some(pair) = read_file(&self.file_for(server))? {
                        return Ok((pair, KeySource::File(self.file_for(server))));
                    }
                    let pair = KeyPair::generate()?;
                    match keyring_set(server, pair.private.to_base64()).await {
                        Ok(()) => {
                            tracing::info!(cluster = %cluster_id(server), "new key pair kept in the OS keyring");
                            return Ok((pair, KeySource::Keyring));
                        }
                        Err(reason) => {
                            tracing::info!(%reason, "the OS keyring refused the key; keeping it in a 0600 file instead");
                            return self.store_file(server, pair);
                        }
                    }
                }
                KeyringAnswer::Unavailable(reason) => {
                    tracing::info!(%reason, "no OS keyring service; keeping the key in a 0600 file under the config dir");
                }
            }
        }
        let path = self.file_for(server);
        if let Some(pair) = read_file(&path)? {
            tracing::debug!(path = %path.display(), "key read from file");
            return Ok((pair, KeySource::File(path)));
        }
        self.store_file(server, KeyPair::generate()?)
    }

    /// The fallback file of a cluster's preshared key.
    #[must_use]
    pub fn psk_file_for(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{}.psk", cluster_id(server)))
    }

    /// The cluster's stored preshared key, if there is one (creates nothing).
    pub async fn load_psk(&self, server: &str) -> Result<Option<PresharedKey>, ClusterError> {
        if self.use_keyring
            && let KeyringAnswer::Found(text) = keyring_get_account(psk_account(server)).await
        {
            return parse_psk(&text).map(Some);
        }
        let path = self.psk_file_for(server);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_psk(&text)
                .map(Some)
                .map_err(|e| ClusterError::Key(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClusterError::Key(format!("{}: {e}", path.display()))),
        }
    }

    /// The cluster's preshared key: the stored one, else a new random one stored now (keyring, else
    /// a 0600 file).
    pub async fn load_or_create_psk(&self, server: &str) -> Result<PresharedKey, ClusterError> {
        if let Some(psk) = self.load_psk(server).await? {
            return Ok(psk);
        }
        let psk = PresharedKey::from_bytes(rand::random::<[u8; 32]>());
        if self.use_keyring {
            match keyring_set_account(psk_account(server), psk.to_base64()).await {
                Ok(()) => {
                    tracing::info!(cluster = %cluster_id(server), "new preshared key kept in the OS keyring");
                    return Ok(psk);
                }
                Err(reason) => {
                    tracing::info!(%reason, "the OS keyring refused the preshared key; keeping it in a 0600 file instead");
                }
            }
        }
        let path = self.psk_file_for(server);
        write_private(&self.dir, &path, &psk.to_base64())?;
        tracing::info!(path = %path.display(), "new preshared key kept in a 0600 file");
        Ok(psk)
    }

    /// The stored key pair, if there is one (creates nothing).
    pub async fn load(&self, server: &str) -> Result<Option<(KeyPair, KeySource)>, ClusterError> {
        if self.use_keyring
            && let KeyringAnswer::Found(text) = keyring_get(server).await
        {
            return Ok(Some((KeyPair::from_private_base64(&text)?, KeySource::Keyring)));
        }
        let path = self.file_for(server);
        Ok(read_file(&path)?.map(|pair| (pair, KeySource::File(path))))
    }

    /// Forgets the cluster's key (keyring entry and file); the next connect creates a new one.
    pub async fn forget(&self, server: &str) -> Result<(), ClusterError> {
        if self.use_keyring {
            for user in [server.trim_end_matches('/').to_owned(), psk_account(server)] {
                let task = tokio::task::spawn_blocking(move || {
                    keyring::Entry::new(KEYRING_SERVICE, &user).and_then(|e| e.delete_credential())
                });
                match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
                    Ok(Ok(Ok(()) | Err(keyring::Error::NoEntry))) => {}
                    Ok(Ok(Err(e))) => tracing::debug!(error = %e, "keyring entry not removed"),
                    Ok(Err(_)) | Err(_) => tracing::debug!("keyring entry not removed (no answer)"),
                }
            }
        }
        for path in [self.file_for(server), self.psk_file_for(server)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ClusterError::Key(format!("{}: {e}", path.display()))),
            }
        }
        Ok(())
    }

    fn store_file(&self, server: &str, pair: KeyPair) -> Result<(KeyPair, KeySource), ClusterError> {
        let path = self.file_for(server);
        write_private(&self.dir, &path, &pair.private.to_base64())?;
        tracing::info!(path = %path.display(), "new key pair kept in a 0600 file");
        Ok((pair, KeySource::File(path)))
    }
}

fn read_file(path: &Path) -> Result<Option<KeyPair>, ClusterError> {
    match std::fs::read_to_string(path) {
        Ok(text) => KeyPair::from_private_base64(&text)
            .map(Some)
            .map_err(|e| ClusterError::Key(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClusterError::Key(format!("{}: {e}", path.display()))),
    }
}

fn write_private(dir: &Path, path: &Path, text: &str) -> Result<(), ClusterError> {
    let fail = |e: std::io::Error| ClusterError::Key(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, text).map_err(fail)?;
    Ok(())
}

/// The keyring account of a cluster's preshared key, beside its private key's.
fn psk_account(server: &str) -> String {
    format!("{}#psk", server.trim_end_matches('/'))
}

fn parse_psk(text: &str) -> Result<PresharedKey, ClusterError> {
    text.trim()
        .parse()
        .map_err(|e| ClusterError::Key(format!("the stored preshared key: {e}")))
}

async fn keyring_get(server: &str) -> KeyringAnswer {
    keyring_get_account(server.trim_end_matches('/').to_owned()).await
}

async fn keyring_get_account(user: String) -> KeyringAnswer {
    let task = tokio::task::spawn_blocking(move || {
        let entry = keyring::Entry::new(KEYRING_SERVICE, &user)?;
        entry.get_password()
    });
    match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
        Ok(Ok(Ok(text))) => KeyringAnswer::Found(text),
        Ok(Ok(Err(keyring::Error::NoEntry))) => KeyringAnswer::Missing,
        Ok(Ok(Err(e))) => KeyringAnswer::Unavailable(e.to_string()),
        Ok(Err(e)) => KeyringAnswer::Unavailable(e.to_string()),
        Err(_) => KeyringAnswer::Unavailable("the keyring did not answer within 5 s".into()),
    }
}

async fn keyring_set(server: &str, secret: String) -> Result<(), String> {
    keyring_set_account(server.trim_end_matches('/').to_owned(), secret).await
}

async fn keyring_set_account(user: String, secret: String) -> Result<(), String> {
    let task = tokio::task::spawn_blocking(move || {
        let entry = keyring::Entry::new(KEYRING_SERVICE, &user)?;
        entry.set_password(&secret)
    });
    match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the keyring did not answer within 5 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_matches_the_private_one() {
        let pair = KeyPair::generate().unwrap();
        let again = KeyPair::from_private_base64(&pair.private.to_base64()).unwrap();
        assert_eq!(pair.public, again.public);
        assert!(!format!("{pair:?}").contains(&pair.private.to_base64()));
    }

    #[tokio::test]
    async fn a_preshared_key_is_created_once_and_kept_beside_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore {
            use_keyring: false,
            dir: dir.path().join("keys"),
        };
        let server = "https://lab:6443";
        assert!(store.load_psk(server).await.unwrap().is_none());
        let psk = store.load_or_create_psk(server).await.unwrap();
        assert_eq!(store.load_or_create_psk(server).await.unwrap(), psk);
        assert_eq!(store.load_psk(server).await.unwrap(), Some(psk.clone()));
        let path = store.psk_file_for(server);
        assert_eq!(path.parent(), store.file_for(server).parent());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        store.forget(server).await.unwrap();
        assert!(store.load_psk(server).await.unwrap().is_none());
    }

    #[test]
    fn cluster_ids_ignore_a_trailing_slash() {
        assert_eq!(cluster_id("https://a:6443/"), cluster_id("https://a:6443"));
        assert_ne!(cluster_id("https://a:6443"), cluster_id("https://b:6443"));
    }
}
