//! A small wg-quick reader for tests: sections as key -> value maps, compared order-insensitively.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

/// A wg-quick file reduced to what must match: the interface settings and the set of peers, with
/// AllowedIPs as a set.
#[derive(Debug, PartialEq, Eq)]
pub struct Conf {
    pub interface: BTreeMap<String, String>,
    pub peers: BTreeSet<BTreeMap<String, String>>,
}

pub fn parse(text: &str) -> Conf {
    let mut interface = BTreeMap::new();
    let mut peers = BTreeSet::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut in_interface = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[Interface]" || line == "[Peer]" {
            if let Some(peer) = current.take() {
                peers.insert(peer);
            }
            in_interface = line == "[Interface]";
            if !in_interface {
                current = Some(BTreeMap::new());
            }
            continue;
        }
        let (key, value) = line.split_once('=').expect("key = value");
        let (key, mut value) = (key.trim().to_owned(), value.trim().to_owned());
        if key == "AllowedIPs" {
            let set: BTreeSet<&str> = value.split(',').map(str::trim).collect();
            value = set.into_iter().collect::<Vec<_>>().join(",");
        }
        match current.as_mut() {
            Some(peer) => {
                peer.insert(key, value);
            }
            None => {
                assert!(in_interface, "line outside a section: {line}");
                interface.insert(key, value);
            }
        }
    }
    if let Some(peer) = current.take() {
        peers.insert(peer);
    }
    Conf { interface, peers }
}
