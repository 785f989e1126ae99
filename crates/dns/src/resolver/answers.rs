//! A small answer cache in front of the routing: the finished answer (CNAME composed, TTLs counted
//! down) for `(name, type)`, kept for the shortest TTL in it. Saves the resolver's lookup machinery
//! on hot names; the resolvers' own caches stay the source of truth.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, RecordType};

use super::forwarder::Outcome;

/// At most this many answers; the cache is emptied when full (simple and bounded).
const CAPACITY: usize = 16_384;

pub(crate) struct Answers {
    map: RwLock<HashMap<(Name, RecordType), (Instant, Outcome)>>,
}

impl Answers {
    pub fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    /// A cached answer with its TTLs counted down, if still valid.
    pub fn get(&self, name: &Name, rtype: RecordType, now: Instant) -> Option<Outcome> {
        let map = self.map.read().ok()?;
        let (until, outcome) = map.get(&(name.to_lowercase(), rtype))?;
        let left = until.checked_duration_since(now)?;
        let left = u32::try_from(left.as_secs()).unwrap_or(u32::MAX);
        let mut outcome = outcome.clone();
        for r in outcome.answers.iter_mut().chain(outcome.authorities.iter_mut()) {
            r.ttl = r.ttl.min(left);
        }
        Some(outcome)
    }

    /// Keep an answer (NOERROR or NXDOMAIN) for its shortest TTL (negative answers: the SOA's).
    pub fn put(&self, name: &Name, rtype: RecordType, outcome: &Outcome, now: Instant) {
        let ttl = outcome.cache_ttl();
        if ttl == 0 {
            return;
        }
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= CAPACITY {
            map.clear();
        }
        let until = now + Duration::from_secs(u64::from(ttl));
        map.insert((name.to_lowercase(), rtype), (until, outcome.clone()));
    }
}
