//! The cache of finished UDP answers as bytes, keyed by the question (name lowercased): a hit is a
//! copy with the TTLs counted down in place (the caller sets id, flags and question), without
//! decoding or encoding a message.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::wire;

/// At most this many answers; the cache is emptied when full (simple and bounded).
const CAPACITY: usize = 16_384;

struct Entry {
    stored: Instant,
    until: Instant,
    bytes: Vec<u8>,
    /// Offset and stored value of every TTL field.
    ttls: Vec<(usize, u32)>,
}

pub(crate) struct Packets {
    map: RwLock<HashMap<Vec<u8>, Entry>>,
}

impl Packets {
    pub fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The stored answer for `key` with its TTLs counted down, if still valid.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Vec<u8>> {
        let map = self.map.read().ok()?;
        let entry = map.get(key)?;
        if now >= entry.until {
            return None;
        }
        let age = u32::try_from(now.duration_since(entry.stored).as_secs()).unwrap_or(u32::MAX);
        let mut bytes = entry.bytes.clone();
        if age > 0 {
            for &(at, ttl) in &entry.ttls {
                bytes[at..at + 4].copy_from_slice(&ttl.saturating_sub(age).to_be_bytes());
            }
        }
        Some(bytes)
    }

    /// Keep `bytes` (a whole response) for `ttl` seconds.
    pub fn put(&self, key: Vec<u8>, bytes: Vec<u8>, ttl: u32, now: Instant) {
        if ttl == 0 {
            return;
        }
        let Some(ttls) = wire::ttl_fields(&bytes) else {
            return;
        };
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= CAPACITY {
            map.clear();
        }
        let entry = Entry {
            stored: now,
            until: now + Duration::from_secs(u64::from(ttl)),
            bytes,
            ttls,
        };
        map.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hickory_proto::op::{Message, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn response(ttl: u32) -> Vec<u8> {
        let mut m = Message::response(0, OpCode::Query);
        let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
        m.add_query(Query::query(name.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(name, ttl, RData::A(A::new(10, 43, 0, 80))));
        m.to_vec().unwrap()
    }

    #[test]
    fn ttls_count_down_and_the_entry_expires() {
        let cache = Packets::new();
        let now = Instant::now();
        cache.put(b"k".to_vec(), response(30), 30, now);
        let ttl = |bytes: Vec<u8>| Message::from_vec(&bytes).unwrap().answers[0].ttl;
        assert_eq!(ttl(cache.get(b"k", now).unwrap()), 30);
        assert_eq!(
            ttl(cache.get(b"k", now + Duration::from_millis(10_500)).unwrap()),
            20
        );
        assert!(cache.get(b"k", now + Duration::from_secs(30)).is_none());
        assert!(cache.get(b"other", now).is_none());
    }

    #[test]
    fn nothing_is_kept_without_a_ttl() {
        let cache = Packets::new();
        let now = Instant::now();
        cache.put(b"k".to_vec(), response(0), 0, now);
        assert!(cache.get(b"k", now).is_none());
    }
}
