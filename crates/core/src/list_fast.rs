//! The fast path of snapshot parsing: well-formed lists deserialize straight into typed values, with
//! no intermediate document tree. Anything unusual (a type mismatch, a missing name, nested lists,
//! YAML) returns `None` and the precise, slower reader in `list.rs` takes over, so
//! errors are always reported the same way.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::list::ListItems;
use crate::source::{NodeSource, PeerEndpointSource, PeerSource, ServiceSource};

#[derive(Deserialize)]
struct List<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<Item<'a>>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "apiVersion")]
    api_version: Option<Cow<'a, str>>,
    metadata: Option<Metadata>,
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct DnsOrIp {
    dns: Option<String>,
    ip: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "dnsOrIP")]
    dns_or_ip: Option<DnsOrIp>,
    port: Option<i64>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(rename = "podCIDR")]
    pod_cidr: Option<String>,
    #[serde(rename = "podCIDRs")]
    pod_cidrs: Option<Vec<String>>,
    #[serde(rename = "allowedIPs")]
    allowed_ips: Option<Vec<String>>,
    #[serde(rename = "publicKey")]
    public_key: Option<String>,
    endpoint: Option<Endpoint>,
    #[serde(rename = "persistentKeepalive")]
    persistent_keepalive: Option<i64>,
    #[serde(rename = "presharedKey")]
    preshared_key: Option<String>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
}

fn convert(list: List<'_>) -> Option<ListItems> {
    if !list.kind.as_deref().is_some_and(|k| k.ends_with("List")) {
        return None;
    }
    let mut out = ListItems::default();
    for item in list.items.unwrap_or_default() {
        let kind = item.kind?;
        if kind.ends_with("List") {
            return None;
        }
        let api_version = item.api_version.unwrap_or_default();
        let wanted = match &*kind {
            "Node" | "Service" => api_version == "v1",
            "Peer" => api_version.starts_with("kilo.squat.ai/"),
            _ => false,
        };
        if !wanted {
            out.ignored += 1;
            continue;
        }
        let metadata = item.metadata?;
        let name = metadata.name.filter(|n| !n.is_empty())?;
        let spec = item.spec;
        match &*kind {
            "Node" => {
                let (first, rest) = spec.map(|s| (s.pod_cidr, s.pod_cidrs)).unwrap_or_default();
                let mut pod_cidrs: Vec<String> = first.into_iter().collect();
                for cidr in rest.unwrap_or_default() {
                    if !pod_cidrs.contains(&cidr) {
                        pod_cidrs.push(cidr);
                    }
                }
                out.nodes.push(NodeSource {
                    name,
                    labels: metadata.labels.unwrap_or_default(),
                    annotations: metadata.annotations.unwrap_or_default(),
                    pod_cidrs,
                });
            }
            "Peer" => {
                let spec = spec?;
                out.peers.push(PeerSource {
                    name,
                    allowed_ips: spec.allowed_ips.unwrap_or_default(),
                    public_key: spec.public_key.unwrap_or_default(),
                    endpoint: spec.endpoint.map(|e| {
                        let (dns, ip) = e.dns_or_ip.map(|d| (d.dns, d.ip)).unwrap_or_default();
                        PeerEndpointSource {
                            dns,
                            ip,
                            port: e.port.unwrap_or(0),
                        }
                    }),
                    persistent_keepalive: spec.persistent_keepalive.unwrap_or(0),
                    has_preshared_key: spec.preshared_key.is_some_and(|k| !k.is_empty()),
                });
            }
            _ => out.services.push(ServiceSource {
                namespace: metadata.namespace.unwrap_or_else(|| "default".into()),
                name,
                labels: metadata.labels.unwrap_or_default(),
                cluster_ip: spec.and_then(|s| s.cluster_ip),
            }),
        }
    }
    Some(out)
}

/// The items of a well-formed List, or `None` when the precise reader must look.
pub fn parse(text: &str) -> Option<ListItems> {
    // JSON only: serde_yaml reads an unquoted `1` as the string "1" where the precise reader (like the
    // API server) wants a quoted string. Only a top-level object: typed structs would also accept an
    // array, which means something else.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    convert(serde_json::from_str(text).ok()?)
}
