//! Reading a Kubernetes `List` (YAML or JSON, as `kubectl get nodes,peers.kilo.squat.ai,services -A -o
//! yaml` prints it) into plain sources. Structural problems are errors naming the item and the field;
//! Kilo-level problems (bad annotation values) are left to the annotation reader.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::source::{NodeSource, PeerEndpointSource, PeerSource, ServiceSource};

/// One problem in a snapshot file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ItemError {
    /// Position in `items` (counting from 0), when the problem is in an item.
    pub item: Option<usize>,
    /// `Kind "name"` of that item, when known.
    pub object: Option<String>,
    /// The field, e.g. `metadata.annotations["kilo.squat.ai/key"]`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.item, &self.object) {
            (Some(i), Some(object)) => write!(f, "item {i} ({object}): ")?,
            (Some(i), None) => write!(f, "item {i}: ")?,
            (None, Some(object)) => write!(f, "{object}: ")?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What a snapshot file holds, as plain sources.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ListItems {
    /// Nodes, in file order.
    pub nodes: Vec<NodeSource>,
    /// Kilo Peers, in file order.
    pub peers: Vec<PeerSource>,
    /// Services, in file order.
    pub services: Vec<ServiceSource>,
    /// Items of other kinds, skipped.
    pub ignored: usize,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

struct ItemReader<'e> {
    index: Option<usize>,
    object: Option<String>,
    errors: &'e mut Vec<ItemError>,
}

impl ItemReader<'_> {
    fn error(&mut self, field: &str, message: String) {
        self.errors.push(ItemError {
            item: self.index,
            object: self.object.clone(),
            field: Some(field.to_owned()),
            message,
        });
    }

    /// The value at `path` (`None` when absent or null).
    fn at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
        path.iter()
            .try_fold(value, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    }

    fn string(&mut self, value: &Value, path: &[&str]) -> Option<String> {
        match Self::at(value, path)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(
                    &path.join("."),
                    format!("expected a string, got {}", type_name(other)),
                );
                None
            }
        }
    }

    fn integer(&mut self, value: &Value, path: &[&str]) -> Option<i64> {
        match Self::at(value, path)? {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            other => {
                self.error(
                    &path.join("."),
                    format!("expected an integer, got {}", type_name(other)),
                );
                None
            }
        }
    }

    fn string_map(&mut self, value: &Value, path: &[&str]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match Self::at(value, path) {
            None => {}
            Some(Value::Object(map)) => {
                for (key, v) in map {
                    match v {
                        Value::String(s) => {
                            out.insert(key.clone(), s.clone());
                        }
                        other => self.error(
                            &format!("{}[{key:?}]", path.join(".")),
                            format!("expected a string, got {} (quote the value)", type_name(other)),
                        ),
                    }
                }
            }
            Some(other) => self.error(
                &path.join("."),
                format!("expected a map, got {}", type_name(other)),
            ),
        }
        out
    }

    fn string_list(&mut self, value: &Value, path: &[&str]) -> Vec<String> {
        match Self::at(value, path) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    other => {
                        self.error(
                            &format!("{}[{i}]", path.join(".")),
                            format!("expected a string, got {}", type_name(other)),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.error(
                    &path.join("."),
                    format!("expected a list, got {}", type_name(other)),
                );
                Vec::new()
            }
        }
    }
}

fn read_node(r: &mut ItemReader<'_>, item: &Value, name: String) -> NodeSource {
    let mut pod_cidrs = Vec::new();
    if let Some(first) = r.string(item, &["spec", "podCIDR"]) {
        pod_cidrs.push(first);
    }
    for cidr in r.string_list(item, &["spec", "podCIDRs"]) {
        if !pod_cidrs.contains(&cidr) {
            pod_cidrs.push(cidr);
        }
    }
    NodeSource {
        name,
        labels: r.string_map(item, &["metadata", "labels"]),
        annotations: r.string_map(item, &["metadata", "annotations"]),
        pod_cidrs,
    }
}

fn read_peer(r: &mut ItemReader<'_>, item: &Value, name: String) -> PeerSource {
    let endpoint = ItemReader::at(item, &["spec", "endpoint"]).map(|e| PeerEndpointSource {
        dns: r.string(e, &["dnsOrIP", "dns"]),
        ip: r.string(e, &["dnsOrIP", "ip"]),
        port: r.integer(e, &["port"]).unwrap_or(0),
    });
    PeerSource {
        name,
        allowed_ips: r.string_list(item, &["spec", "allowedIPs"]),
        public_key: r.string(item, &["spec", "publicKey"]).unwrap_or_default(),
        endpoint,
        persistent_keepalive: r.integer(item, &["spec", "persistentKeepalive"]).unwrap_or(0),
        has_preshared_key: r
            .string(item, &["spec", "presharedKey"])
            .is_some_and(|k| !k.is_empty()),
    }
}

fn read_service(r: &mut ItemReader<'_>, item: &Value, name: String) -> ServiceSource {
    ServiceSource {
        namespace: r
            .string(item, &["metadata", "namespace"])
            .unwrap_or_else(|| "default".into()),
        name,
        labels: r.string_map(item, &["metadata", "labels"]),
        cluster_ip: r.string(item, &["spec", "clusterIP"]),
    }
}

fn read_item(index: Option<usize>, item: &Value, out: &mut ListItems, errors: &mut Vec<ItemError>) {
    let mut r = ItemReader {
        index,
        object: None,
        errors,
    };
    if !item.is_object() {
        r.error(
            "(item)",
            format!("expected a Kubernetes object (a map), got {}", type_name(item)),
        );
        return;
    }
    let kind = r.string(item, &["kind"]);
    let api_version = r.string(item, &["apiVersion"]).unwrap_or_default();
    let Some(kind) = kind else {
        r.error("kind", "missing".into());
        return;
    };
    if kind.ends_with("List") {
        match ItemReader::at(item, &["items"]) {
            Some(Value::Array(items)) => {
                for (i, inner) in items.iter().enumerate() {
                    read_item(Some(i), inner, out, r.errors);
                }
            }
            None => {}
            Some(other) => r.error("items", format!("expected a list, got {}", type_name(other))),
        }
        return;
    }
    let wanted = match kind.as_str() {
        "Node" | "Service" => api_version == "v1",
        "Peer" => api_version.starts_with("kilo.squat.ai/"),
        _ => false,
    };
    if !wanted {
        out.ignored += 1;
        return;
    }
    r.object = Some(kind.clone());
    let name = match r.string(item, &["metadata", "name"]) {
        Some(name) if !name.is_empty() => name,
        Some(_) => {
            r.error("metadata.name", "is empty".into());
            return;
        }
        None => {
            r.error("metadata.name", "missing".into());
            return;
        }
    };
    r.object = Some(format!("{kind} {name:?}"));
    let before = r.errors.len();
    match kind.as_str() {
        "Node" => {
            let node = read_node(&mut r, item, name);
            if r.errors.len() == before {
                out.nodes.push(node);
            }
        }
        "Peer" => {
            let peer = read_peer(&mut r, item, name);
            if r.errors.len() == before {
                out.peers.push(peer);
            }
        }
        _ => {
            let service = read_service(&mut r, item, name);
            if r.errors.len() == before {
                out.services.push(service);
            }
        }
    }
}

fn documents(text: &str) -> Result<Vec<Value>, ItemError> {
    let whole = |message: String| ItemError {
        item: None,
        object: None,
        field: None,
        message,
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str::<Value>(text)
            .map(|v| vec![v])
            .map_err(|e| whole(format!("not valid JSON: {e}")));
    }
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| whole(format!("not valid YAML: {e}")))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Parses a snapshot file's text: a `List` (or any `*List`), or single objects, in YAML (one or more
/// documents) or JSON. Nodes, Kilo Peers and Services are kept; other kinds are counted and skipped.
/// Every structural problem is reported; an item with a problem is left out.
pub fn parse_list(text: &str) -> Result<ListItems, Vec<ItemError>> {
    match crate::list_fast::parse(text) {
        Some(items) => Ok(items),
        None => parse_list_precisely(text),
    }
}

/// [`parse_list`] without the fast path: walks a document tree, naming the item and field of every
/// problem.
pub fn parse_list_precisely(text: &str) -> Result<ListItems, Vec<ItemError>> {
    let docs = documents(text).map_err(|e| vec![e])?;
    let mut out = ListItems::default();
    let mut errors = Vec::new();
    if docs.is_empty() {
        errors.push(ItemError {
            item: None,
            object: None,
            field: None,
            message: "is empty".into(),
        });
    }
    for doc in &docs {
        if let Value::Array(items) = doc {
            for (i, item) in items.iter().enumerate() {
                read_item(Some(i), item, &mut out, &mut errors);
            }
        } else {
            read_item(None, doc, &mut out, &mut errors);
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../tests/fixtures/seed-cluster.yaml");

    #[test]
    fn fast_path_agrees_with_the_precise_reader() {
        let as_json = serde_json::to_string(&serde_yaml::from_str::<Value>(SEED).unwrap()).unwrap();
        let fast = crate::list_fast::parse(&as_json).expect("the seed as JSON takes the fast path");
        assert_eq!(Ok(fast), parse_list_precisely(&as_json));
        let fast = crate::list_fast::parse(SEED).expect("the seed as YAML takes the fast path");
        assert_eq!(Ok(fast), parse_list_precisely(SEED));
        assert_eq!(parse_list_precisely(&as_json), parse_list_precisely(SEED));
        assert_eq!(parse_list(SEED).unwrap().nodes.len(), 4);
    }

    #[test]
    fn unusual_input_falls_back_to_the_precise_reader() {
        let cases = [
            "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"a\"}}",
            "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\", \"apiVersion\": \"v1\", \"metadata\": {}}]}",
            "{\"kind\": \"List\", \"items\": [{\"kind\": \"NodeList\", \"items\": []}]}",
            "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\", \"apiVersion\": \"v1\", \
             \"metadata\": {\"name\": \"a\", \"annotations\": {\"x\": 1}}}]}",
            "kind: List\nitems:\n- kind: Node\n  apiVersion: v1\n  metadata: {name: a, annotations: {x: 1}}\n",
            "kind: List\nitems:\n- kind: Peer\n  apiVersion: kilo.squat.ai/v1\n  metadata: {name: p}\n  spec: {endpoint: {port: 1.5}}\n",
            "kind: List\nitems:\n- kind: Node\n  apiVersion: v1\n  metadata: {name: true}\n",
            "---\nkind: List\nitems: []\n---\nkind: List\nitems: []\n",
            "- kind: List\n- []\n",
            "kind: List\nitems:\n- kind: Node\n  apiVersion: v1\n  metadata: {}\n",
            "kind: List\nitems:\n- kind: NodeList\n  items: []\n",
            "kind: List\nitems:\n- kind: Node\n  apiVersion: v1\n  metadata: {name: a, annotations: {x: 1}}\n",
            "---\nkind: List\nitems: []\n---\nkind: List\nitems: []\n",
            "- kind: List\n- []\n",
            "[\"List\", []]",
        ];
        for text in cases {
            assert_eq!(crate::list_fast::parse(text), None, "{text}");
        }
        assert!(parse_list(cases[0]).is_ok());
        assert!(parse_list(cases[1]).is_err());
        assert!(parse_list(cases[3]).is_err());
    }
}
