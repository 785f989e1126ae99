//! The journal: the one owner of the state file. Every change to the machine is named in the file
//! before it is made (write-before-change), and the file says what is live once it is made, so that
//! a crash at any instant leaves nothing the next start cannot find. Each step of a session's life
//! is one method here; nothing else in the daemon writes, removes or moves the file.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use kubewire_dns::DnsState;

use super::{Backend, PersistError, State, StateFile};

/// The state file's only writer.
#[derive(Clone, Debug)]
pub struct Journal {
    file: StateFile,
}

impl Journal {
    /// The journal of the state file in `dir`.
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            file: StateFile::new(dir),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// What the file says is (or is about to be) on the machine; `Ok(None)`: nothing.
    pub fn read(&self) -> Result<Option<State>, PersistError> {
        self.file.read()
    }

    /// Before an interface is created: its name and the routes it will get (no backend yet).
    pub fn before_create(
        &self,
        interface: &str,
        routes: impl IntoIterator<Item = IpNet>,
    ) -> Result<(), PersistError> {
        self.file.write(&State::new(interface, None, routes))
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
        self.file
            .write(&State::new(interface, Some(backend), superset).with_dns(dns))
    }

    /// After the tunnel changed (or failed to): what is live now.
    pub fn after_change(&self, live: &State) -> Result<(), PersistError> {
        self.file.write(live)
    }

    /// Before the system's DNS is pointed at the resolver: `live` plus what the DNS change will be.
    pub fn before_dns(&self, live: &State, dns: DnsState) -> Result<(), PersistError> {
        self.file.write(&live.clone().with_dns(Some(dns)))
    }

    /// The DNS change was undone (or never made): `live` without it.
    pub fn dns_undone(&self, live: &State) -> Result<(), PersistError> {
        self.file.write(&live.clone().with_dns(None))
    }

    /// Nothing the file names is on the machine any more (removed, or never created).
    pub fn nothing_live(&self) -> Result<(), PersistError> {
        self.file.remove()
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
}
