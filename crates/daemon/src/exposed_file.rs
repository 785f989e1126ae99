//! `exposed.json` in the state directory: what each connection exposes (`kubewire expose`), with
//! its owner, so that a daemon restart (every package upgrade does one) opens the same ports again
//! when the connection's controller brings the tunnel back, instead of leaving the cluster's
//! Services pointing at a closed laptop. Written whole to a temporary file and renamed (a crash
//! leaves the old or the new file); an unreadable file is named in the log and ignored (nothing is
//! opened from it). Rewritten on every expose, unexpose and disconnect; not when the daemon stops.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use kubewire_ipc::ExposedPort;
use serde::{Deserialize, Serialize};

/// One connection's exposure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub owner_uid: u32,
    pub ports: BTreeSet<ExposedPort>,
}

/// Every connection's, by name.
pub type All = BTreeMap<String, Remembered>;

/// The file.
#[derive(Clone, Debug)]
pub struct ExposedFile {
    path: PathBuf,
}

impl ExposedFile {
    /// The file in `dir`.
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("exposed.json"),
        }
    }

    /// What it holds; nothing when it is missing or unreadable (said in the log).
    #[must_use]
    pub fn read(&self) -> All {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return All::new(),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot read the exposed ports; none reopened");
                return All::new();
            }
        };
        let all: All = match serde_json::from_slice(&text) {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "the exposed ports file is corrupt; none reopened");
                return All::new();
            }
        };
        // Each port checked again: the file is input like any other.
        all.into_iter()
            .map(|(name, mut r)| {
                r.ports.retain(|p| crate::expose::check(p).is_ok());
                (name, r)
            })
            .filter(|(_, r)| !r.ports.is_empty())
            .collect()
    }

    /// Makes the file hold `all` (removed when empty).
    pub fn write(&self, all: &All) -> std::io::Result<()> {
        if all.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec_pretty(all).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kubewire_ipc::Protocol;

    fn remembered(ports: &[(u16, &str)]) -> Remembered {
        Remembered {
            owner_uid: 1000,
            ports: ports
                .iter()
                .map(|(port, service)| ExposedPort {
                    protocol: Protocol::Tcp,
                    port: *port,
                    service: (*service).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip_and_empty_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = ExposedFile::new(dir.path());
        assert!(file.read().is_empty());
        let mut all = All::new();
        all.insert("kubewire-lab".into(), remembered(&[(8080, "default/laptop-api")]));
        file.write(&all).unwrap();
        assert_eq!(file.read(), all);
        file.write(&All::new()).unwrap();
        assert!(!dir.path().join("exposed.json").exists());
    }

    #[test]
    fn a_corrupt_or_hostile_file_opens_nothing_it_should_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = ExposedFile::new(dir.path());
        std::fs::write(
            dir.path().join("exposed.json"),
            b"{\"kubewire-lab\": {\"owner_uid\": 10",
        )
        .unwrap();
        assert!(file.read().is_empty());
        std::fs::write(
            dir.path().join("exposed.json"),
            br#"{"a": {"owner_uid": 0, "ports": [{"protocol": "tcp", "port": 0, "service": "default/x"},
                 {"protocol": "tcp", "port": 22, "service": "x\n-A INPUT -j ACCEPT"},
                 {"protocol": "tcp", "port": 8080, "service": "default/ok"}]}}"#,
        )
        .unwrap();
        let read = file.read();
        assert_eq!(read["a"].ports.len(), 1, "{read:?}");
        assert_eq!(read["a"].ports.iter().next().unwrap().port, 8080);
    }
}
