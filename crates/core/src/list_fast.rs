//! The fast path of snapshot parsing: a well-formed List (JSON, or one YAML document) deserializes
//! straight into typed values, borrowing the file's text where it can (no document tree, no copy of
//! every annotation from JSON). Strings and integers are strict, as in the precise reader. Anything
//! unusual (a type mismatch, a missing name, nested lists, several documents) returns `None` and the
//! precise reader in `list.rs` takes over, so problems are always reported the same way.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::annotations::{Annotations, KNOWN_COUNT, PREFIX, known_index, parse_node_parts};
use crate::list::ListItems;
use crate::snapshot::Snapshot;
use crate::source::{NodeSource, PeerEndpointSource, PeerSource, ServiceSource};

/// A string borrowed from the text when it has no escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Str<'a>(Cow<'a, str>);

impl Borrow<str> for Str<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        // `deserialize_any`: YAML resolves an unquoted `12` to a number, which is not a string here, as
        // in the precise reader (and the API server).
        deserializer.deserialize_any(StrVisitor(PhantomData))
    }
}

impl Str<'_> {
    fn owned(self) -> String {
        self.0.into_owned()
    }
}

/// An integer, strictly: not a float, not a string.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v).map(Int).map_err(|_| E::custom("too large"))
            }
        }
        deserializer.deserialize_any(IntVisitor)
    }
}

/// A map of strings, owned (labels: the Node keeps them).
#[derive(Default)]
struct OwnedMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for OwnedMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = OwnedMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OwnedMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<Str<'de>, Str<'de>>()? {
                    out.insert(k.owned(), v.owned());
                }
                Ok(OwnedMap(out))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Annotations as the file has them, borrowed, in file order, with the position of the last value of
/// each annotation Kilo knows (a repeated key: the last one counts, as in a map).
#[derive(Default)]
struct AnnotationList<'a> {
    entries: Vec<(Str<'a>, Str<'a>)>,
    /// 1 + the position in `entries`, 0 when absent.
    known: [u16; KNOWN_COUNT],
}

impl<'de: 'a, 'a> Deserialize<'de> for AnnotationList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
            type Value = AnnotationList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnnotationList<'a>, A::Error> {
                let mut out = AnnotationList {
                    entries: Vec::with_capacity(16),
                    known: [0; KNOWN_COUNT],
                };
                while let Some((k, v)) = map.next_entry::<Str<'de>, Str<'de>>()? {
                    if let Some(slot) = known_index(&k.0).and_then(|i| out.known.get_mut(i)) {
                        *slot = u16::try_from(out.entries.len() + 1)
                            .map_err(|_| A::Error::custom("needs the precise reader"))?;
                    }
                    out.entries.push((k, v));
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(ListVisitor(PhantomData))
    }
}

impl AnnotationList<'_> {
    fn owned(self) -> BTreeMap<String, String> {
        self.entries
            .into_iter()
            .map(|(k, v)| (k.owned(), v.owned()))
            .collect()
    }
}

impl Annotations for AnnotationList<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        let at = match known_index(key) {
            Some(i) => self.known.get(i).and_then(|&p| usize::from(p).checked_sub(1)),
            None => self.entries.iter().rposition(|(k, _)| k.0 == key),
        };
        at.and_then(|p| self.entries.get(p)).map(|(_, v)| &*v.0)
    }

    fn unknown_kilo_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .entries
            .iter()
            .map(|(k, _)| &*k.0)
            .filter(|k| k.starts_with(PREFIX) && known_index(k).is_none())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

#[derive(Deserialize)]
struct List<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    /// Sorted as they are read: no vector of raw items.
    #[serde(borrow, default, deserialize_with = "sorted_items")]
    items: Items<'a>,
}

/// Reads `items`, keeping the wanted objects; an item the fast path cannot take aborts it.
fn sorted_items<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Items<'a>, D::Error> {
    struct ItemsVisitor<'a>(PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for ItemsVisitor<'a> {
        type Value = Items<'a>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of Kubernetes objects")
        }
        fn visit_unit<E>(self) -> Result<Items<'a>, E> {
            Ok(Items::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'a>, A::Error> {
            let mut out = Items::default();
            while let Some(item) = seq.next_element::<Item<'de>>()? {
                if accept(&mut out, item).is_none() {
                    return Err(A::Error::custom("needs the precise reader"));
                }
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(ItemsVisitor(PhantomData))
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow, rename = "apiVersion")]
    api_version: Option<Str<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow)]
    spec: Option<Spec<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<Str<'a>>,
    labels: Option<OwnedMap>,
    #[serde(borrow)]
    annotations: Option<AnnotationList<'a>>,
}

#[derive(Deserialize)]
struct DnsOrIp<'a> {
    #[serde(borrow)]
    dns: Option<Str<'a>>,
    #[serde(borrow)]
    ip: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct Endpoint<'a> {
    #[serde(borrow, rename = "dnsOrIP")]
    dns_or_ip: Option<DnsOrIp<'a>>,
    port: Option<Int>,
}

#[derive(Deserialize)]
struct Spec<'a> {
    #[serde(borrow, rename = "podCIDR")]
    pod_cidr: Option<Str<'a>>,
    #[serde(borrow, rename = "podCIDRs")]
    pod_cidrs: Option<Vec<Str<'a>>>,
    #[serde(borrow, rename = "allowedIPs")]
    allowed_ips: Option<Vec<Str<'a>>>,
    #[serde(borrow, rename = "publicKey")]
    public_key: Option<Str<'a>>,
    #[serde(borrow)]
    endpoint: Option<Endpoint<'a>>,
    #[serde(rename = "persistentKeepalive")]
    persistent_keepalive: Option<Int>,
    #[serde(borrow, rename = "presharedKey")]
    preshared_key: Option<Str<'a>>,
    #[serde(borrow, rename = "clusterIP")]
    cluster_ip: Option<Str<'a>>,
}

/// A Node as the file has it, borrowed.
struct NodeItem<'a> {
    name: Str<'a>,
    labels: BTreeMap<String, String>,
    annotations: AnnotationList<'a>,
    /// `spec.podCIDR` and `spec.podCIDRs`, as written (merged only when all are wanted).
    pod_cidr: Option<Str<'a>>,
    more_pod_cidrs: Vec<Str<'a>>,
}

impl<'a> NodeItem<'a> {
    /// `spec.podCIDR`, then the other `spec.podCIDRs`, each once.
    fn pod_cidrs(&mut self) -> Vec<Str<'a>> {
        let mut out: Vec<Str<'a>> = self.pod_cidr.take().into_iter().collect();
        for cidr in std::mem::take(&mut self.more_pod_cidrs) {
            if !out.contains(&cidr) {
                out.push(cidr);
            }
        }
        out
    }
}

/// The wanted objects of a List, in file order.
#[derive(Default)]
struct Items<'a> {
    nodes: Vec<NodeItem<'a>>,
    peers: Vec<PeerSource>,
    services: Vec<ServiceSource>,
    ignored: usize,
}

/// Files one item into `out`; `None` when the precise reader must look.
fn accept<'a>(out: &mut Items<'a>, item: Item<'a>) -> Option<()> {
    let kind = item.kind?.0;
    if kind.ends_with("List") {
        return None;
    }
    let api_version = item.api_version.map(|v| v.0).unwrap_or_default();
    let wanted = match &*kind {
        "Node" | "Service" => api_version == "v1",
        "Peer" => api_version.starts_with("kilo.squat.ai/"),
        _ => false,
    };
    if !wanted {
        out.ignored += 1;
        return Some(());
    }
    let metadata = item.metadata?;
    let name = metadata.name.filter(|n| !n.0.is_empty())?;
    let mut spec = item.spec;
    match &*kind {
        "Node" => out.nodes.push(NodeItem {
            name,
            labels: metadata.labels.unwrap_or_default().0,
            annotations: metadata.annotations.unwrap_or_default(),
            pod_cidr: spec.as_mut().and_then(|s| s.pod_cidr.take()),
            more_pod_cidrs: spec.as_mut().and_then(|s| s.pod_cidrs.take()).unwrap_or_default(),
        }),
        "Peer" => {
            let spec = spec?;
            out.peers.push(PeerSource {
                name: name.owned(),
                allowed_ips: spec
                    .allowed_ips
                    .unwrap_or_default()
                    .into_iter()
                    .map(Str::owned)
                    .collect(),
                public_key: spec.public_key.map(Str::owned).unwrap_or_default(),
                endpoint: spec.endpoint.map(|e| {
                    let (dns, ip) = e.dns_or_ip.map(|d| (d.dns, d.ip)).unwrap_or_default();
                    PeerEndpointSource {
                        dns: dns.map(Str::owned),
                        ip: ip.map(Str::owned),
                        port: e.port.map_or(0, |p| p.0),
                    }
                }),
                persistent_keepalive: spec.persistent_keepalive.map_or(0, |p| p.0),
                has_preshared_key: spec.preshared_key.is_some_and(|k| !k.0.is_empty()),
            });
        }
        _ => out.services.push(ServiceSource {
            namespace: metadata
                .namespace
                .map_or_else(|| "default".to_owned(), Str::owned),
            name: name.owned(),
            labels: metadata.labels.unwrap_or_default().0,
            cluster_ip: spec.and_then(|s| s.cluster_ip).map(Str::owned),
        }),
    }
    Some(())
}

fn sort(list: List<'_>) -> Option<Items<'_>> {
    list.kind
        .as_ref()
        .is_some_and(|k| k.0.ends_with("List"))
        .then_some(list.items)
}

fn read(text: &str) -> Option<Items<'_>> {
    // Only a top-level mapping: typed structs would also accept a sequence, which means something else.
    if text.trim_start().starts_with('{') {
        // JSON (no need to look for the end of a first line that may be the whole file).
        return sort(serde_json::from_str(text).ok()?);
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---")?;
    if first.starts_with('{') {
        sort(serde_json::from_str(text).ok()?)
    } else if first.starts_with(['-', '[']) {
        None
    } else {
        // One YAML document (several are an error here, so they go to the precise reader).
        sort(serde_yaml::from_str(text).ok()?)
    }
}

/// The items of a well-formed JSON List as plain sources, or `None` when the precise reader must look.
pub fn parse(text: &str) -> Option<ListItems> {
    let items = read(text)?;
    Some(ListItems {
        nodes: items
            .nodes
            .into_iter()
            .map(|mut n| NodeSource {
                pod_cidrs: n.pod_cidrs().into_iter().map(Str::owned).collect(),
                name: n.name.owned(),
                labels: n.labels,
                annotations: n.annotations.owned(),
            })
            .collect(),
        peers: items.peers,
        services: items.services,
        ignored: items.ignored,
    })
}

/// A well-formed JSON List straight into a [`Snapshot`], reading annotations in place; `None` when the
/// precise reader must look.
pub fn parse_snapshot(text: &str) -> Option<Snapshot> {
    let items = read(text)?;
    let nodes = items.nodes.into_iter().map(|n| {
        // The pod CIDR Kilo uses: `spec.podCIDR`, else the first of `spec.podCIDRs`.
        let pod_cidr = n.pod_cidr.as_ref().or(n.more_pod_cidrs.first()).map(|c| &*c.0);
        parse_node_parts(&n.name.0, n.labels, &n.annotations, pod_cidr)
    });
    let mut snapshot = Snapshot::from_parsed_nodes(nodes);
    for p in &items.peers {
        snapshot.upsert_peer(p);
    }
    for s in items.services {
        snapshot.upsert_service(s);
    }
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::list::parse_list_precisely;
    use crate::snapshot::Snapshot;

    /// Repeated annotations and Nodes (the last counts), unknown and escaped `kilo.squat.ai/*` keys:
    /// the fast path reads what the precise reader reads.
    #[test]
    fn repeats_unknown_keys_and_escapes_read_as_the_precise_reader() {
        let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b", "labels": {"x": "1"},
             "annotations": {"kilo.squat.ai/endpoint": "1.2.3.4:5", "kilo.squat.ai/zz": "1",
               "kilo.squat.ai/endpoint": "bad", "kilo.squat.ai/aa": "2", "kilo.squat.ai/zz": "3",
               "kilo.squat.ai/lo\u0063ation": "here", "other": "x"}}, "spec": {"podCIDR": "10.0.0.0/24"}},
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a", "annotations": {"kilo.squat.ai/key": "k"}}},
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b", "annotations":
              {"kilo.squat.ai/endpoint": "9.9.9.9:1", "kilo.squat.ai/force-endpoint": "nope", "kilo.squat.ai/q": ""}},
             "spec": {"podCIDR": "10.0.1.0/24"}}
        ]}"#;
        let fast = Snapshot::parse(text).unwrap();
        let items = parse_list_precisely(text).unwrap();
        assert_eq!(
            fast,
            Snapshot::from_sources(&items.nodes, &items.peers, &items.services)
        );
        assert_eq!(super::parse(text), Some(items));
        assert_eq!(fast.node_count(), 2);
    }
}
