//! The daemon's sessions, keyed by connection name (`--name`, else the kubeconfig context made
//! DNS-safe). At most [`crate::decide::MAX_SESSIONS`] at once, each with its own interface and
//! ranges ([`crate::decide`] refuses more, a taken interface and overlapping ranges).

use std::collections::BTreeMap;

use crate::decide::Held;
use crate::session::Session;

#[derive(Default)]
pub struct Sessions {
    by_name: BTreeMap<String, Session>,
}

impl Sessions {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The sessions as [`crate::decide`] sees them.
    #[must_use]
    pub fn held(&self) -> Vec<Held<'_>> {
        self.by_name
            .iter()
            .map(|(name, s)| Held {
                name,
                owner_uid: s.owner_uid,
                interface: s.tunnel.name(),
                spec: s.tunnel.spec(),
                public_key: s.plan.interface.public_key,
                wedged: s.tunnel.is_wedged(),
                routes: &s.requested.routes,
            })
            .collect()
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Session> {
        self.by_name.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Session> {
        self.by_name.get_mut(name)
    }

    pub fn insert(&mut self, name: String, session: Session) {
        self.by_name.insert(name, session);
    }

    pub fn take(&mut self, name: &str) -> Option<Session> {
        self.by_name.remove(name)
    }

    /// The connections' names, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Every session's interface: ours, never a local network.
    #[must_use]
    pub fn interfaces(&self) -> Vec<String> {
        self.by_name
            .values()
            .map(|s| s.tunnel.name().to_owned())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Session)> {
        self.by_name.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Session)> {
        self.by_name.iter_mut()
    }

    /// All sessions, leaving none (disconnect, shutdown).
    pub fn take_all(&mut self) -> Vec<(String, Session)> {
        std::mem::take(&mut self.by_name).into_iter().collect()
    }
}
