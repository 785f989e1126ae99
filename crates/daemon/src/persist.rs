//! The state file `<state-dir>/state.json`: what the daemon created (interface, backend, routes),
//! written before each change, so a successor can undo it after a crash. Mode 0600, written to a
//! temporary file, fsync'd, renamed, and the directory fsync'd (`kubewire_dns::durable`): a crash
//! leaves the old or the new state, never a torn one. A corrupt file (by hand, a disk error) is
//! named in the log and moved aside by `restore`, which then cleans up what the defaults name.
//! Only the [`Journal`] writes it: the file's writes, removal and moving aside are private here.
//!
//! Several connections at once (issue 14): the file is `{"sessions": {<connection>: State}}`, one
//! [`State`] per connection. A file of a single-session kubewired (one [`State`] at the top) loads
//! as one session named by its interface, and is written back in the new shape.

mod journal;

pub use journal::Journal;
use kubewire_dns::durable;
pub use kubewire_tunnel::Backend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The state file's shape version.
pub const STATE_VERSION: u32 = 1;

/// What is (or is about to be) on the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The WireGuard interface.
    pub interface: String,
    /// `kernel` or `boringtun` (as text in the file); `None` while the interface is being created.
    pub backend: Option<Backend>,
    /// Routes through the interface (a superset while a change is under way).
    pub routes: Vec<IpNet>,
    /// The daemon that wrote it.
    pub pid: u32,
    /// What the split DNS changed in the OS (written before the change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<kubewire_dns::DnsState>,
}

impl State {
    #[must_use]
    pub fn new(interface: &str, backend: Option<Backend>, routes: impl IntoIterator<Item = IpNet>) -> Self {
        let mut routes: Vec<IpNet> = routes.into_iter().collect();
        routes.sort();
        routes.dedup();
        Self {
            version: STATE_VERSION,
            interface: interface.to_owned(),
            backend,
            routes,
            pid: std::process::id(),
            dns: None,
        }
    }

    /// The same state with the split DNS's persisted part.
    #[must_use]
    pub fn with_dns(self, dns: Option<kubewire_dns::DnsState>) -> Self {
        Self { dns, ..self }
    }
}

/// Every connection's state, by connection name.
pub type Sessions = BTreeMap<String, State>;

/// The file's shape.
#[derive(Debug, Serialize, Deserialize)]
struct Shape {
    sessions: Sessions,
}

/// The file as read: the sessions map, or a single-session kubewired's one state.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyShape {
    Sessions(Shape),
    Single(State),
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is unreadable ({reason})")]
    Corrupt { path: PathBuf, reason: String },
}

/// The state file in `dir`.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("state.json"),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
        move |source| PersistError::Io {
            what,
            path: self.path.clone(),
            source,
        }
    }

    /// Writes atomically with mode 0600 (creating the directory, 0700); no sessions: no file.
    fn write_all(&self, sessions: &Sessions) -> Result<(), PersistError> {
        if sessions.is_empty() {
            return self.remove();
        }
        self.write_shape(&Shape {
            sessions: sessions.clone(),
        })
    }

    fn write_shape(&self, shape: &Shape) -> Result<(), PersistError> {
        if let Some(dir) = self.path.parent() {
            crate::os::private_dir_builder()
                .create(dir)
                .map_err(self.io("creating the directory of"))?;
        }
        let text = serde_json::to_vec_pretty(shape).map_err(|e| PersistError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        durable::write_atomic(&self.path, &text, 0o600, "state").map_err(self.io("writing"))
    }

    /// Every session's state; empty when there is no file. A single-session file is one session
    /// named by its interface.
    pub fn read_all(&self) -> Result<Sessions, PersistError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sessions::new()),
            Err(e) => return Err(self.io("reading")(e)),
        };
        let corrupt = |reason: String| PersistError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let sessions = match serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))? {
            AnyShape::Sessions(shape) => shape.sessions,
            AnyShape::Single(state) => Sessions::from([(state.interface.clone(), state)]),
        };
        for (name, state) in &sessions {
            if state.version != STATE_VERSION || state.interface.is_empty() {
                return Err(corrupt(format!(
                    "session {name:?}: version {} / interface {:?}",
                    state.version, state.interface
                )));
            }
        }
        Ok(sessions)
    }

    /// Moves a corrupt file aside to `state.json.corrupt`; returns the new path.
    fn move_aside(&self) -> Result<PathBuf, PersistError> {
        let aside = self.path.with_extension("json.corrupt");
        std::fs::rename(&self.path, &aside).map_err(self.io("moving aside"))?;
        durable::sync_parent(&self.path).map_err(self.io("moving aside"))?;
        Ok(aside)
    }

    fn remove(&self) -> Result<(), PersistError> {
        durable::remove(&self.path, "state-removed").map_err(self.io("removing"))
    }
}

#[cfg(test)]
impl StateFile {
    /// One session, named by its interface.
    fn write(&self, state: &State) -> Result<(), PersistError> {
        self.write_all(&Sessions::from([(state.interface.clone(), state.clone())]))
    }

    /// The one session (tests of one session).
    fn read(&self) -> Result<Option<State>, PersistError> {
        Ok(self.read_all()?.into_values().next())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join("lib/kubewire"));
        assert_eq!(file.read().unwrap(), None);
        let state = State::new(
            "kubewire0",
            Some(Backend::Boringtun),
            ["10.42.1.0/24".parse().unwrap(), "10.42.0.0/24".parse().unwrap()],
        );
        file.write(&state).unwrap();
        assert_eq!(file.read().unwrap(), Some(state.clone()));
        assert_eq!(
            state.routes[0],
            "10.42.0.0/24".parse::<IpNet>().unwrap(),
            "sorted"
        );
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        file.remove().unwrap();
        assert_eq!(file.read().unwrap(), None);
        file.remove().unwrap();
    }

    #[test]
    fn a_state_file_written_by_an_earlier_kubewired_still_loads() {
        // As the single-session daemon wrote it (before issue 14), with the backend as text, or null
        // while the interface was being created: one session, named by its interface.
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        for (text, backend) in [
            ("\"boringtun\"", Some(Backend::Boringtun)),
            ("\"kernel\"", Some(Backend::Kernel)),
            ("null", None),
        ] {
            let old = format!(
                "{{\n  \"version\": 1,\n  \"interface\": \"kubewire0\",\n  \"backend\": {text},\n  \
                 \"routes\": [\n    \"10.42.0.0/24\"\n  ],\n  \"pid\": 4242\n}}"
            );
            std::fs::write(file.path(), &old).unwrap();
            let sessions = file.read_all().unwrap();
            assert_eq!(sessions.keys().collect::<Vec<_>>(), ["kubewire0"], "{old}");
            let state = &sessions["kubewire0"];
            assert_eq!(state.backend, backend, "{old}");
            assert_eq!(state.interface, "kubewire0");
            assert_eq!(state.pid, 4242);
            assert_eq!(state.routes, vec!["10.42.0.0/24".parse::<IpNet>().unwrap()]);
            // Written back, it takes the sessions shape and reads the same.
            file.write_all(&sessions).unwrap();
            let new = std::fs::read_to_string(file.path()).unwrap();
            let indented = old.replace("\n", "\n    ").replacen('{', "", 1);
            assert_eq!(
                new,
                format!("{{\n  \"sessions\": {{\n    \"kubewire0\": {{{indented}\n  }}\n}}")
            );
            assert_eq!(file.read_all().unwrap(), sessions);
        }
        // A backend this daemon does not know is a corrupt file, moved aside by `restore`.
        std::fs::write(
            file.path(),
            b"{\"version\":1,\"interface\":\"x\",\"backend\":\"wireguard-go\",\"routes\":[],\"pid\":1}",
        )
        .unwrap();
        assert!(matches!(file.read_all(), Err(PersistError::Corrupt { .. })));
    }

    #[test]
    fn several_sessions_are_kept_by_name_and_the_last_one_gone_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        let prod = State::new(
            "kubewire-prod",
            Some(Backend::Kernel),
            ["10.42.0.0/16".parse().unwrap()],
        );
        let lab = State::new("kw-kubewir-4027", None, ["10.52.0.0/16".parse().unwrap()]);
        let mut sessions = Sessions::from([("prod".to_owned(), prod), ("kubewire-lab".to_owned(), lab)]);
        file.write_all(&sessions).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(
            text.starts_with("{\n  \"sessions\": {\n    \"kubewire-lab\": {"),
            "{text}"
        );
        assert_eq!(file.read_all().unwrap(), sessions);
        sessions.remove("prod");
        file.write_all(&sessions).unwrap();
        assert_eq!(file.read_all().unwrap(), sessions);
        file.write_all(&Sessions::new()).unwrap();
        assert!(!file.path().exists());
        assert_eq!(file.read_all().unwrap(), Sessions::new());
        // A session without an interface is corrupt.
        std::fs::write(
            file.path(),
            b"{\"sessions\":{\"a\":{\"version\":1,\"interface\":\"\",\"backend\":null,\"routes\":[],\"pid\":1}}}",
        )
        .unwrap();
        assert!(matches!(file.read_all(), Err(PersistError::Corrupt { .. })));
    }

    #[test]
    fn a_corrupt_file_is_named_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        std::fs::write(file.path(), b"{\"version\":1,\"interf").unwrap();
        let err = file.read().unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
        let aside = file.move_aside().unwrap();
        assert!(aside.ends_with("state.json.corrupt"));
        assert!(aside.exists());
        assert_eq!(file.read().unwrap(), None);
        // Valid JSON with the wrong shape is corrupt too.
        std::fs::write(
            file.path(),
            b"{\"version\":9,\"interface\":\"x\",\"backend\":null,\"routes\":[],\"pid\":1}",
        )
        .unwrap();
        assert!(matches!(file.read(), Err(PersistError::Corrupt { .. })));
    }
}

/// The crash suite of the state file: a child process (this test binary) writes one state over
/// another and aborts at each fault point; the file must then read as the old or the new state,
/// never as corrupt.
#[cfg(test)]
mod crash_tests {
    use std::process::Command;

    use super::*;

    fn states() -> (State, State) {
        let old = State::new(
            "kubewire0",
            Some(Backend::Boringtun),
            ["10.42.0.0/24".parse().unwrap()],
        );
        let new = State::new(
            "kubewire0",
            Some(Backend::Boringtun),
            ["10.42.0.0/24".parse().unwrap(), "10.43.0.0/16".parse().unwrap()],
        );
        (old, new)
    }

    #[test]
    #[ignore = "helper: run by the crash test as a child process"]
    fn state_crash_child() {
        let Ok(dir) = std::env::var("KWD_CRASH_DIR") else {
            return;
        };
        let (_, new) = states();
        let file = StateFile::new(Path::new(&dir));
        file.write(&new).unwrap();
        file.remove().unwrap();
    }

    fn child(dir: &Path, fault: Option<&str>, trace: Option<&Path>) -> std::process::ExitStatus {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "persist::crash_tests::state_crash_child", "--ignored"])
            .env("KWD_CRASH_DIR", dir)
            .env_remove(kubewire_dns::fault::FAULT_ENV)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(f) = fault {
            cmd.env(kubewire_dns::fault::FAULT_ENV, f);
        }
        if let Some(t) = trace {
            cmd.env(kubewire_dns::fault::TRACE_ENV, t);
        }
        cmd.status().unwrap()
    }

    #[test]
    fn a_crash_at_any_point_of_a_state_write_leaves_the_old_or_the_new_state() {
        use std::os::unix::process::ExitStatusExt as _;
        let root = tempfile::tempdir().unwrap();
        let (old, new) = states();
        let trace = root.path().join("trace");
        let clean = root.path().join("clean");
        StateFile::new(&clean).write(&old).unwrap();
        assert!(child(&clean, None, Some(&trace)).success());
        let points: Vec<String> = std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(points.len() >= 6, "{points:?}");
        for (i, point) in points.iter().enumerate() {
            let dir = root.path().join(format!("d{i}"));
            let file = StateFile::new(&dir);
            file.write(&old).unwrap();
            let status = child(&dir, Some(point), None);
            assert_eq!(status.signal(), Some(6), "no crash at {point}");
            // The child wrote its own pid.
            let read = file.read().map(|s| s.map(|s| State { pid: old.pid, ..s }));
            let new = State {
                pid: old.pid,
                ..new.clone()
            };
            assert!(
                matches!(&read, Ok(Some(s)) if *s == old || *s == new) || matches!(read, Ok(None)),
                "crash at {point}: {read:?}"
            );
            // The next start's write is clean, leftover temporary file or not.
            file.write(&old).unwrap();
            assert_eq!(file.read().unwrap(), Some(old.clone()));
        }
        eprintln!(
            "MEASURE state-file crash cases: {}, none left a torn state",
            points.len()
        );
    }
}
