//! The lab's Kilo stand-in: watches Kilo `Peer` resources through the lab's API server with the real
//! `kube` client, validates them the way Kilo does (invalid Peers are ignored, with a log line) and
//! reports the accepted set; the controller then configures every leader to accept them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use futures::StreamExt;
use ipnet::IpNet;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::mesh::KiloPeer;

/// Why a Peer was ignored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPeer {
    #[error("spec.publicKey is not the base64 of 32 bytes")]
    Key,
    #[error("spec.allowedIPs is empty or holds an invalid CIDR: {0}")]
    AllowedIps(String),
    #[error("spec.endpoint is invalid: {0}")]
    Endpoint(String),
    #[error("spec.presharedKey is not the base64 of 32 bytes")]
    PresharedKey,
}

/// The Peer resource type.
pub fn peer_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kilo.squat.ai", "v1alpha1", "Peer"),
        "peers",
    )
}

/// Parses a Peer object as Kilo would accept it.
pub fn parse_peer(name: &str, spec: &Value) -> Result<KiloPeer, InvalidPeer> {
    let key = spec.get("publicKey").and_then(Value::as_str).unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| InvalidPeer::Key)?;
    if decoded.len() != 32 {
        return Err(InvalidPeer::Key);
    }
    let ips = spec
        .get("allowedIPs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ips.is_empty() {
        return Err(InvalidPeer::AllowedIps("none given".into()));
    }
    let allowed_ips = ips
        .iter()
        .map(|v| {
            let s = v.as_str().unwrap_or_default();
            s.parse::<IpNet>().map_err(|_| InvalidPeer::AllowedIps(s.into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let endpoint = match spec.get("endpoint") {
        None | Some(Value::Null) => None,
        Some(ep) => {
            let port = ep.get("port").and_then(Value::as_u64).unwrap_or(0);
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| InvalidPeer::Endpoint(format!("port {port}")))?;
            let ip = ep.pointer("/dnsOrIP/ip").and_then(Value::as_str);
            match ip.map(str::parse::<IpAddr>) {
                Some(Ok(ip)) => Some(SocketAddr::new(ip, port)),
                Some(Err(_)) => return Err(InvalidPeer::Endpoint("dnsOrIP.ip is not an IP address".into())),
                // DNS endpoints: the lab has no DNS for the underlay; such a Peer is accepted without
                // an endpoint (the leaders learn it from its first handshake).
                None => None,
            }
        }
    };
    // Kilo ignores a Peer whose preshared key does not parse; an empty one is none.
    let preshared_key = match spec.get("presharedKey").and_then(Value::as_str) {
        None | Some("") => None,
        Some(psk) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(psk)
                .map_err(|_| InvalidPeer::PresharedKey)?;
            if decoded.len() != 32 {
                return Err(InvalidPeer::PresharedKey);
            }
            Some(psk.to_owned())
        }
    };
    let persistent_keepalive = spec
        .get("persistentKeepalive")
        .and_then(Value::as_u64)
        .and_then(|k| u16::try_from(k).ok())
        .unwrap_or(0);
    Ok(KiloPeer {
        name: name.into(),
        public_key: key.into(),
        allowed_ips,
        endpoint,
        persistent_keepalive,
        preshared_key,
    })
}

fn accepted(objects: &BTreeMap<String, DynamicObject>) -> Vec<KiloPeer> {
    objects
        .iter()
        .filter_map(|(name, obj)| {
            let spec = obj.data.get("spec").cloned().unwrap_or(Value::Null);
            match parse_peer(name, &spec) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(peer = %name, error = %e, "ignoring invalid Peer, as Kilo does");
                    None
                }
            }
        })
        .collect()
}

/// Watches Peers until the channel closes, sending the accepted set after every change.
pub async fn run(client: kube::Client, tx: mpsc::Sender<Vec<KiloPeer>>) {
    let api: Api<DynamicObject> = Api::all_with(client, &peer_resource());
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut current: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut initial: BTreeMap<String, DynamicObject> = BTreeMap::new();
    while let Some(event) = stream.next().await {
        let changed = match event {
            Ok(watcher::Event::Init) => {
                initial.clear();
                false
            }
            Ok(watcher::Event::InitApply(obj)) => {
                initial.insert(obj.metadata.name.clone().unwrap_or_default(), obj);
                false
            }
            Ok(watcher::Event::InitDone) => {
                current = std::mem::take(&mut initial);
                true
            }
            Ok(watcher::Event::Apply(obj)) => {
                current.insert(obj.metadata.name.clone().unwrap_or_default(), obj);
                true
            }
            Ok(watcher::Event::Delete(obj)) => {
                current.remove(&obj.metadata.name.clone().unwrap_or_default());
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "Peer watch interrupted; retrying");
                false
            }
        };
        if changed && tx.send(accepted(&current)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=";

    #[test]
    fn accepts_valid_peers_and_rejects_what_kilo_rejects() {
        let p = parse_peer(
            "a",
            &json!({"publicKey": KEY, "allowedIPs": ["10.4.255.5/32"], "persistentKeepalive": 25}),
        )
        .unwrap();
        assert_eq!(p.persistent_keepalive, 25);
        assert!(p.endpoint.is_none());
        assert!(p.preshared_key.is_none());
        let with_psk = json!({"publicKey": KEY, "allowedIPs": ["10.4.255.5/32"], "presharedKey": KEY});
        assert_eq!(
            parse_peer("p", &with_psk).unwrap().preshared_key.as_deref(),
            Some(KEY)
        );
        assert_eq!(
            parse_peer(
                "q",
                &json!({"publicKey": KEY, "allowedIPs": ["10.4.255.5/32"], "presharedKey": "x"})
            ),
            Err(InvalidPeer::PresharedKey)
        );
        let with_ep = json!({"publicKey": KEY, "allowedIPs": ["10.5.0.1/32"], "endpoint": {"dnsOrIP": {"ip": "192.0.2.7"}, "port": 51820}});
        assert_eq!(
            parse_peer("b", &with_ep).unwrap().endpoint,
            Some("192.0.2.7:51820".parse().unwrap())
        );
        assert_eq!(
            parse_peer("c", &json!({"publicKey": "nope", "allowedIPs": ["10.0.0.1/32"]})),
            Err(InvalidPeer::Key)
        );
        assert!(matches!(
            parse_peer("d", &json!({"publicKey": KEY, "allowedIPs": ["10.0.0.300/32"]})),
            Err(InvalidPeer::AllowedIps(_))
        ));
        assert!(matches!(
            parse_peer("e", &json!({"publicKey": KEY, "allowedIPs": []})),
            Err(InvalidPeer::AllowedIps(_))
        ));
        let bad_port = json!({"publicKey": KEY, "allowedIPs": ["10.5.0.1/32"], "endpoint": {"dnsOrIP": {"ip": "192.0.2.7"}, "port": 70000}});
        assert!(matches!(
            parse_peer("f", &bad_port),
            Err(InvalidPeer::Endpoint(_))
        ));
    }
}
