//! Reading `kilo.squat.ai/*` annotations and Peer specs exactly as Kilo does (pkg/k8s/backend.go),
//! reporting every invalid value with the object and the annotation. Never panics.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Bound;

use ipnet::IpNet;
use serde::Deserialize;

use crate::cidr;
use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::endpoint::{Endpoint, Host, is_dns1123_subdomain};
use crate::key::PublicKey;
use crate::model::{Granularity, KiloPeer, Node};
use crate::source::{NodeSource, PeerSource};

/// The annotation prefix.
pub const PREFIX: &str = "kilo.squat.ai/";

const FORCE_ENDPOINT: &str = "kilo.squat.ai/force-endpoint";
const ENDPOINT: &str = "kilo.squat.ai/endpoint";
const FORCE_INTERNAL_IP: &str = "kilo.squat.ai/force-internal-ip";
const INTERNAL_IP: &str = "kilo.squat.ai/internal-ip";
const KEY: &str = "kilo.squat.ai/key";
const LAST_SEEN: &str = "kilo.squat.ai/last-seen";
const LEADER: &str = "kilo.squat.ai/leader";
const LOCATION: &str = "kilo.squat.ai/location";
const PERSISTENT_KEEPALIVE: &str = "kilo.squat.ai/persistent-keepalive";
const WIREGUARD_IP: &str = "kilo.squat.ai/wireguard-ip";
const DISCOVERED_ENDPOINTS: &str = "kilo.squat.ai/discovered-endpoints";
const ALLOWED_LOCATION_IPS: &str = "kilo.squat.ai/allowed-location-ips";
const GRANULARITY: &str = "kilo.squat.ai/granularity";

const KNOWN: [&str; 13] = [
    FORCE_ENDPOINT,
    ENDPOINT,
    FORCE_INTERNAL_IP,
    INTERNAL_IP,
    KEY,
    LAST_SEEN,
    LEADER,
    LOCATION,
    PERSISTENT_KEEPALIVE,
    WIREGUARD_IP,
    DISCOVERED_ENDPOINTS,
    ALLOWED_LOCATION_IPS,
    GRANULARITY,
];

/// One entry of `discovered-endpoints`, as Go marshals a `net.UDPAddr`.
#[derive(Deserialize)]
struct UdpAddr {
    #[serde(rename = "IP")]
    ip: String,
    #[serde(rename = "Port")]
    port: u16,
}

/// The position of a `kilo.squat.ai/*` annotation Kilo knows in [`KNOWN`].
pub(crate) fn known_index(key: &str) -> Option<usize> {
    Some(match key {
        FORCE_ENDPOINT => 0,
        ENDPOINT => 1,
        FORCE_INTERNAL_IP => 2,
        INTERNAL_IP => 3,
        KEY => 4,
        LAST_SEEN => 5,
        LEADER => 6,
        LOCATION => 7,
        PERSISTENT_KEEPALIVE => 8,
        WIREGUARD_IP => 9,
        DISCOVERED_ENDPOINTS => 10,
        ALLOWED_LOCATION_IPS => 11,
        GRANULARITY => 12,
        _ => return None,
    })
}

/// Number of annotations Kilo knows.
pub(crate) const KNOWN_COUNT: usize = KNOWN.len();

/// Read access to a node's annotations, whoever owns the strings (a `NodeSource`, or text borrowed
/// from a snapshot file).
pub(crate) trait Annotations {
    /// The value of one annotation.
    fn value(&self, key: &str) -> Option<&str>;
    /// The `kilo.squat.ai/*` keys Kilo does not know, sorted, each once.
    fn unknown_kilo_keys(&self) -> Vec<&str>;
}

impl<K: Borrow<str> + Ord, V: Borrow<str>> Annotations for BTreeMap<K, V> {
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(Borrow::borrow)
    }

    fn unknown_kilo_keys(&self) -> Vec<&str> {
        self.range::<str, _>((Bound::Included(PREFIX), Bound::Unbounded))
            .map(|(k, _)| k.borrow())
            .take_while(|k: &&str| k.starts_with(PREFIX))
            .filter(|k| known_index(k).is_none())
            .collect()
    }
}

struct Reader<'a, A: Annotations> {
    name: &'a str,
    annotations: &'a A,
    diagnostics: Vec<Diagnostic>,
}

impl<'a, A: Annotations> Reader<'a, A> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.annotations.value(key)
    }

    fn warn(&mut self, key: &str, message: String) {
        self.diagnostics
            .push(Diagnostic::field(ObjectRef::node(self.name), key, message));
    }

    fn endpoint(&mut self) -> Option<Endpoint> {
        if let Some(text) = self.get(FORCE_ENDPOINT) {
            match text.parse::<Endpoint>() {
                Ok(endpoint) => return Some(endpoint),
                Err(e) => self.warn(FORCE_ENDPOINT, format!("{text:?}: {e}; using {ENDPOINT} instead")),
            }
        }
        let text = self.get(ENDPOINT)?;
        match text.parse::<Endpoint>() {
            Ok(endpoint) => Some(endpoint),
            Err(e) => {
                self.warn(ENDPOINT, format!("{text:?}: {e}; the node has no endpoint"));
                None
            }
        }
    }

    fn internal_ip(&mut self) -> Option<IpNet> {
        if let Some(text) = self.get(FORCE_INTERNAL_IP) {
            if text.is_empty() || text == "-" {
                return None;
            }
            match cidr::parse(text) {
                Some(net) => return Some(net),
                None => self.warn(
                    FORCE_INTERNAL_IP,
                    format!("{text:?} is not a CIDR (nor \"\" or \"-\"); using {INTERNAL_IP} instead"),
                ),
            }
        }
        let text = self.get(INTERNAL_IP)?;
        let parsed = cidr::parse(text);
        if parsed.is_none() && !text.is_empty() {
            self.warn(
                INTERNAL_IP,
                format!("{text:?} is not a CIDR; the node has no internal IP"),
            );
        }
        parsed
    }

    fn key(&mut self) -> Option<PublicKey> {
        let text = self.get(KEY)?;
        match text.parse::<PublicKey>() {
            Ok(key) => Some(key),
            Err(e) => {
                self.warn(
                    KEY,
                    format!("{text:?} is not a WireGuard key ({e}); the node is not ready"),
                );
                None
            }
        }
    }

    fn integer(&mut self, key: &str, consequence: &str) -> i64 {
        let Some(text) = self.get(key) else { return 0 };
        match text.parse::<i64>() {
            Ok(value) => value,
            Err(_) => {
                self.warn(key, format!("{text:?} is not an integer; {consequence}"));
                0
            }
        }
    }

    fn wireguard_ip(&mut self) -> Option<IpNet> {
        let text = self.get(WIREGUARD_IP)?;
        let parsed = cidr::parse(text);
        if parsed.is_none() && !text.is_empty() {
            self.warn(WIREGUARD_IP, format!("{text:?} is not a CIDR; ignored"));
        }
        parsed
    }

    fn discovered_endpoints(&mut self) -> BTreeMap<String, Endpoint> {
        let Some(text) = self.get(DISCOVERED_ENDPOINTS) else {
            return BTreeMap::new();
        };
        if text == "{}" {
            return BTreeMap::new(); // what agents that discovered nothing write
        }
        let parsed: Result<BTreeMap<String, Option<UdpAddr>>, _> = serde_json::from_str(text);
        let Ok(map) = parsed else {
            self.warn(
                DISCOVERED_ENDPOINTS,
                "not a JSON map of key -> {\"IP\",\"Port\"}; ignored".into(),
            );
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (key, addr) in map {
            let Some(addr) = addr else { continue };
            match (addr.ip.parse::<IpAddr>(), addr.port) {
                (Ok(ip), port) if port != 0 => {
                    out.insert(
                        key,
                        Endpoint {
                            host: Host::Ip(ip),
                            port,
                        },
                    );
                }
                _ => self.warn(
                    DISCOVERED_ENDPOINTS,
                    format!("entry for {key:?} has no valid IP and port; ignored"),
                ),
            }
        }
        out
    }

    fn allowed_location_ips(&mut self) -> Vec<IpNet> {
        let Some(text) = self.get(ALLOWED_LOCATION_IPS) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in text.split(',') {
            match cidr::parse(entry) {
                Some(net) => out.push(net.trunc()),
                None => self.warn(
                    ALLOWED_LOCATION_IPS,
                    format!("entry {entry:?} is not a CIDR (Kilo does not trim spaces); skipped"),
                ),
            }
        }
        out
    }

    fn granularity(&mut self) -> Option<Granularity> {
        match self.get(GRANULARITY)? {
            "location" => Some(Granularity::Location),
            "full" => Some(Granularity::Full),
            other => {
                self.warn(
                    GRANULARITY,
                    format!("{other:?} is neither \"location\" nor \"full\"; unset"),
                );
                None
            }
        }
    }

    fn unknown(&mut self) {
        let annotations = self.annotations;
        for key in annotations.unknown_kilo_keys() {
            self.warn(key, "not an annotation Kilo knows; ignored".into());
        }
    }
}

/// Reads a Node as Kilo does. Invalid values become diagnostics naming the node and annotation.
#[must_use]
pub fn parse_node(source: &NodeSource) -> (Node, Vec<Diagnostic>) {
    parse_node_parts(
        &source.name,
        source.labels.clone(),
        &source.annotations,
        source.pod_cidrs.first().map(String::as_str),
    )
}

/// [`parse_node`] from borrowed parts: `pod_cidr` is `spec.podCIDR`.
pub(crate) fn parse_node_parts(
    name: &str,
    labels: BTreeMap<String, String>,
    annotations: &impl Annotations,
    pod_cidr: Option<&str>,
) -> (Node, Vec<Diagnostic>) {
    let mut r = Reader {
        name,
        annotations,
        diagnostics: Vec::new(),
    };
    let pod_cidr = match pod_cidr {
        None => None,
        Some(text) => {
            let parsed = cidr::parse(text).map(|n| n.trunc());
            if parsed.is_none() {
                r.diagnostics.push(Diagnostic::field(
                    ObjectRef::node(name),
                    "spec.podCIDR",
                    format!("{text:?} is not a CIDR; the node is not ready"),
                ));
            }
            parsed
        }
    };
    let node = Node {
        name: name.to_owned(),
        labels,
        location_annotation: r.get(LOCATION).map(str::to_owned),
        endpoint: r.endpoint(),
        internal_ip: r.internal_ip(),
        key: r.key(),
        last_seen: r.integer(LAST_SEEN, "Kilo treats it as 0 (never seen)"),
        leader: r.get(LEADER).is_some(),
        persistent_keepalive: r.integer(PERSISTENT_KEEPALIVE, "Kilo treats it as 0 (not behind NAT)"),
        pod_cidr,
        wireguard_ip: r.wireguard_ip(),
        discovered_endpoints: r.discovered_endpoints(),
        allowed_location_ips: r.allowed_location_ips(),
        granularity: r.granularity(),
    };
    r.unknown();
    (node, r.diagnostics)
}

/// Reads a Kilo Peer as Kilo does: a Peer that fails Kilo's validation (an invalid allowed IP, an
/// endpoint with neither a valid IP nor a DNS name or with a port outside 1..=65535, an invalid key, no
/// allowed IP) is ignored (`None`), with a diagnostic for each reason. A DNS name that is not a valid
/// name passes validation but gives no endpoint.
#[must_use]
pub fn parse_peer(source: &PeerSource) -> (Option<KiloPeer>, Vec<Diagnostic>) {
    let object = ObjectRef::peer(&source.name);
    let mut diagnostics = Vec::new();
    let mut valid = true;
    let mut reject = |field: String, message: String, diagnostics: &mut Vec<Diagnostic>| {
        valid = false;
        diagnostics.push(Diagnostic::field(
            object.clone(),
            field,
            format!("{message}; Kilo ignores this Peer"),
        ));
    };
    let mut allowed_ips = Vec::new();
    for (i, text) in source.allowed_ips.iter().enumerate() {
        match cidr::parse(text) {
            Some(net) => allowed_ips.push(net.trunc()),
            None => reject(
                format!("spec.allowedIPs[{i}]"),
                format!("{text:?} is not a CIDR"),
                &mut diagnostics,
            ),
        }
    }
    if source.allowed_ips.is_empty() {
        reject("spec.allowedIPs".into(), "is empty".into(), &mut diagnostics);
    }
    let mut endpoint = None;
    if let Some(e) = &source.endpoint {
        let port = u16::try_from(e.port).ok().filter(|p| *p != 0);
        let dns = e.dns.as_deref().filter(|d| !d.is_empty());
        let ip = e.ip.as_deref().and_then(|t| t.parse::<IpAddr>().ok());
        match (port, dns, ip) {
            (None, _, _) => reject(
                "spec.endpoint.port".into(),
                format!("{} is not in 1..=65535", e.port),
                &mut diagnostics,
            ),
            (Some(_), None, None) => reject(
                "spec.endpoint.dnsOrIP".into(),
                format!(
                    "has neither a DNS name nor a valid IP ({:?})",
                    e.ip.as_deref().unwrap_or("")
                ),
                &mut diagnostics,
            ),
            // Kilo prefers the DNS name when both are given.
            (Some(port), Some(dns), _) if is_dns1123_subdomain(dns) => {
                endpoint = Some(Endpoint {
                    host: Host::Dns(dns.to_owned()),
                    port,
                });
            }
            (Some(_), Some(dns), _) => diagnostics.push(Diagnostic::field(
                object.clone(),
                "spec.endpoint.dnsOrIP.dns",
                format!("{dns:?} is not a DNS name; the Peer has no endpoint"),
            )),
            (Some(port), None, Some(ip)) => {
                endpoint = Some(Endpoint {
                    host: Host::Ip(ip),
                    port,
                })
            }
        }
    }
    let public_key = match source.public_key.parse::<PublicKey>() {
        Ok(key) if !key.is_zero() => Some(key),
        Ok(_) => {
            reject(
                "spec.publicKey".into(),
                "is the zero key".into(),
                &mut diagnostics,
            );
            None
        }
        Err(e) => {
            reject(
                "spec.publicKey".into(),
                format!("{:?} is not a WireGuard key ({e})", source.public_key),
                &mut diagnostics,
            );
            None
        }
    };
    let peer = match public_key {
        Some(public_key) if valid => Some(KiloPeer {
            name: source.name.clone(),
            allowed_ips,
            public_key,
            endpoint,
            persistent_keepalive: source.persistent_keepalive.max(0),
            has_preshared_key: source.has_preshared_key,
        }),
        _ => None,
    };
    (peer, diagnostics)
}

#[cfg(test)]
#[path = "annotations_tests.rs"]
mod tests;
