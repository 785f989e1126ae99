//! Identical questions in flight share one lookup (dnsmasq and unbound do the same): while a question
//! is being asked upstream, the same question from other clients waits for that answer instead of
//! going upstream again. Not a cache: every answer comes from a lookup that was under way when the
//! query arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use super::wire;

/// At most this many queries wait behind one lookup; more ask on their own.
const MAX_WAITERS: usize = 256;

/// A query waiting for the answer to the same question.
pub(crate) struct Waiter {
    pub query: Vec<u8>,
    pub q: wire::Query,
    pub src: SocketAddr,
}

/// What a query with a cache miss does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// Ask, then answer the waiters ([`InFlight::finish`]).
    Lead,
    /// Queued behind a lookup in flight.
    Queued,
    /// Ask alone (too many waiters already).
    Alone,
}

pub(crate) struct InFlight {
    map: Mutex<HashMap<Vec<u8>, Vec<Waiter>>>,
}

impl InFlight {
    pub fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Joins the lookup for `key` if one is in flight (`waiter` is then queued), else leads it.
    pub fn join(&self, key: &[u8], waiter: impl FnOnce() -> Waiter) -> Join {
        let Ok(mut map) = self.map.lock() else {
            return Join::Alone;
        };
        match map.get_mut(key) {
            Some(waiters) if waiters.len() < MAX_WAITERS => {
                waiters.push(waiter());
                Join::Queued
            }
            Some(_) => Join::Alone,
            None => {
                map.insert(key.to_vec(), Vec::new());
                Join::Lead
            }
        }
    }

    /// The lookup for `key` is done: the queries that waited for it.
    pub fn finish(&self, key: &[u8]) -> Vec<Waiter> {
        self.map
            .lock()
            .ok()
            .and_then(|mut map| map.remove(key))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn waiter(port: u16) -> Waiter {
        Waiter {
            query: Vec::new(),
            q: wire::Query {
                question_end: 12,
                max_udp: 512,
                edns: false,
            },
            src: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    #[test]
    fn the_first_leads_the_others_wait_and_finish_hands_them_over() {
        let f = InFlight::new();
        assert_eq!(f.join(b"a", || waiter(1)), Join::Lead);
        assert_eq!(f.join(b"a", || waiter(2)), Join::Queued);
        assert_eq!(f.join(b"a", || waiter(3)), Join::Queued);
        assert_eq!(f.join(b"b", || waiter(4)), Join::Lead);
        let waiting: Vec<u16> = f.finish(b"a").iter().map(|w| w.src.port()).collect();
        assert_eq!(waiting, vec![2, 3]);
        assert!(f.finish(b"a").is_empty());
        assert_eq!(
            f.join(b"a", || waiter(5)),
            Join::Lead,
            "a new lookup after the last one ended"
        );
    }

    #[test]
    fn too_many_waiters_ask_alone() {
        let f = InFlight::new();
        assert_eq!(f.join(b"a", || waiter(0)), Join::Lead);
        for i in 0..MAX_WAITERS {
            assert_eq!(f.join(b"a", || waiter(i as u16)), Join::Queued);
        }
        assert_eq!(f.join(b"a", || waiter(9)), Join::Alone);
    }
}
