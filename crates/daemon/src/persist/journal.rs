//! The journal: the one owner of the state file. Every change to the machine is named in the file
//! before it is made (write-before-change), and the file says what is live once it is made, so that
//! a crash at any instant leaves nothing the next start cannot find. Each step of a session's life
//! is one method here; nothing else in the daemon writes, removes or moves the file.
//!
//! The file holds every connection's state by name; a journal writes one connection's entry
//! ([`Journal::session`]) and leaves the others as they are. All writes happen under the daemon's
//! session lock, so reading the file, changing one entry and writing it back never races another.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use kubewire_dns::DnsState;

use super::{Backend, PersistError, Sessions, State, StateFile};

/// The state file's only writer, for one connection (its entry in the file).
#[derive(Clone, Debug)]
pub struct Journal {
    file: StateFile,
    session: String,
}

impl Journal {
    /// The journal of the state file in `dir` (of the connection named ``; [`Journal::session`]
    /// names one).
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            file: StateFile::new(dir),
            session: String::new(),
        }
    }

    /// The journal of connection `name`, in the same file.
    #[must_use]
    pub fn session(&self, name: &str) -> Self {
        Self {
            file: self.file.clone(),
            session: name.to_owned(),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// What the file says is (or is about to be) on the machine for this connection; `Ok(None)`:
    /// nothing (the model test reads each step's file through it).
    #[cfg(test)]
    pub fn read(&self) -> Result<Option<State>, PersistError> {
        Ok(self.file.read_all()?.remove(&self.session))
    }

    /// What the file says for every connection.
    pub fn read_all(&self) -> Result<Sessions, PersistError> {
        self.file.read_all()
    }

    /// This connection's entry becomes `state` (`None`: removed), the others stay.
    fn write(&self, state: Option<State>) -> Result<(), PersistError> {
        let mut all = self.file.read_all()?;
        match state {
            Some(state) => {
                all.insert(self.session.clone(), state);
            }
            None => {
                if all.remove(&self.session).is_none() && !all.is_empty() {
                    return Ok(());
                }
            }
        }
        self.file.write_all(&all)
    }

    /// Connection `name`'s entry is gone (its leftovers removed); the others stay.
    pub fn forget(&self, name: &str) -> Result<(), PersistError> {
        self.session(name).nothing_live()
    }

    /// Before an interface is created: its name and the routes it will get (no backend yet).
    pub fn before_create(
        &self,
        interface: &str,
        routes: impl IntoIterator<Item = IpNet>,
    ) -> Result<(), PersistError> {
        self.write(Some(State::new(interface, None, routes)))
    }

    /// Before the tunnel changes: the routes live now and the ones wanted, together (a crash in
    /// between leaves none unnamed), with the split DNS's state.
    pub fn before_change(
        &self,
        interface: &str,
        backend: Backend,
        live: impl IntoIterator<Item = IpNet>,
        wanted: impl IntoIterator<Item = IpNet>,
        dns: Option<DnsState>,
    ) -> Result<(), PersistError> {
        let superset = live.into_iter().chain(wanted);
        self.write(Some(State::new(interface, Some(backend), superset).with_dns(dns)))
    }

    /// After the tunnel changed (or failed to): what is live now.
    pub fn after_change(&self, live: &State) -> Result<(), PersistError> {
        self.write(Some(live.clone()))
    }

    /// Before the system's DNS is pointed at the resolver: `live` plus what the DNS change will be.
    pub fn before_dns(&self, live: &State, dns: DnsState) -> Result<(), PersistError> {
        self.write(Some(live.clone().with_dns(Some(dns))))
    }

    /// The DNS change was undone (or never made): `live` without it.
    pub fn dns_undone(&self, live: &State) -> Result<(), PersistError> {
        self.write(Some(live.clone().with_dns(None)))
    }

    /// Nothing the file names for this connection is on the machine any more (removed, or never
    /// created); the file goes with the last connection.
    pub fn nothing_live(&self) -> Result<(), PersistError> {
        self.write(None)
    }

    /// An unreadable file is moved aside (`state.json.corrupt`), kept for a person to read.
    pub fn move_aside(&self) -> Result<PathBuf, PersistError> {
        self.file.move_aside()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn before_a_change_the_file_names_live_and_wanted_routes_and_after_it_what_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        journal
            .before_create("kubewire0", nets(&["10.42.1.0/24"]))
            .unwrap();
        let created = journal.read().unwrap().unwrap();
        assert_eq!(
            (created.backend, created.routes.clone()),
            (None, nets(&["10.42.1.0/24"]))
        );
        journal
            .before_change(
                "kubewire0",
                Backend::Kernel,
                nets(&["10.42.1.0/24"]),
                nets(&["10.42.2.0/24"]),
                None,
            )
            .unwrap();
        let during = journal.read().unwrap().unwrap();
        assert_eq!(during.routes, nets(&["10.42.1.0/24", "10.42.2.0/24"]));
        let live = State::new("kubewire0", Some(Backend::Kernel), nets(&["10.42.2.0/24"]));
        journal.after_change(&live).unwrap();
        assert_eq!(journal.read().unwrap().unwrap().routes, nets(&["10.42.2.0/24"]));
        journal.nothing_live().unwrap();
        assert_eq!(journal.read().unwrap(), None);
    }

    #[test]
    fn each_connection_writes_its_own_entry_and_the_file_goes_with_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let root = Journal::new(dir.path());
        let (prod, lab) = (root.session("prod"), root.session("lab"));
        prod.before_create("kubewire-prod", nets(&["10.42.0.0/16"]))
            .unwrap();
        lab.before_create("kubewire-lab", nets(&["10.52.0.0/16"]))
            .unwrap();
        let live = State::new("kubewire-lab", Some(Backend::Kernel), nets(&["10.52.0.0/16"]));
        lab.after_change(&live).unwrap();
        let all = root.read_all().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["lab", "prod"]);
        assert_eq!(all["prod"].routes, nets(&["10.42.0.0/16"]));
        assert_eq!(lab.read().unwrap(), Some(live));
        prod.nothing_live().unwrap();
        assert_eq!(prod.read().unwrap(), None);
        assert!(lab.read().unwrap().is_some(), "the other connection stays");
        // Forgetting one that is not there changes nothing.
        root.forget("prod").unwrap();
        assert!(lab.read().unwrap().is_some());
        root.forget("lab").unwrap();
        assert!(!root.path().exists());
    }
}
