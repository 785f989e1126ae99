//! kubewire's Peers in a cluster (`kubewire peers`): every Kilo Peer labelled
//! `app.kubernetes.io/managed-by=kubewire`, with its owner (user and host labels), address, the last
//! connect kubewire stamped on it and whether an admin enrolled it; and removing the stale ones
//! ([`prune`], pure: what to remove and why).

pub mod prune;

use kube::ResourceExt as _;
use kube::api::{DeleteParams, DynamicObject, ListParams};
use serde::Serialize;
use serde_json::Value;

use crate::error::ClusterError;
use crate::registration::{
    ENROLLED_ANNOTATION, HOST_LABEL, LAST_CONNECT_ANNOTATION, MANAGED_BY, MANAGED_SELECTOR, USER_LABEL,
    peers_api,
};

/// One of kubewire's Peers as the cluster has it (no key material beyond the public key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerRecord {
    /// `metadata.name`.
    pub name: String,
    /// The `kubewire.io/user` label.
    pub user: Option<String>,
    /// The `kubewire.io/host` label.
    pub host: Option<String>,
    /// `spec.allowedIPs`.
    pub allowed_ips: Vec<String>,
    /// `spec.publicKey`.
    pub public_key: String,
    /// The last connect kubewire stamped (`kubewire.io/last-connect`, Unix seconds).
    pub last_connect: Option<u64>,
    /// When it was enrolled for an admin to apply (`kubewire.io/enrolled`, Unix seconds).
    pub enrolled: Option<u64>,
    /// Whether it carries kubewire's label (always, for a listed Peer; checked again before removal).
    pub managed: bool,
}

impl PeerRecord {
    /// The record of a Peer object.
    #[must_use]
    pub fn from_object(peer: &DynamicObject) -> Self {
        let labels = peer.labels();
        let annotations = peer.annotations();
        let stamp = |key: &str| annotations.get(key).and_then(|v| v.trim().parse::<u64>().ok());
        let spec = peer.data.get("spec");
        Self {
            name: peer.name_any(),
            user: labels.get(USER_LABEL).cloned(),
            host: labels.get(HOST_LABEL).cloned(),
            allowed_ips: spec
                .and_then(|s| s.get("allowedIPs"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            public_key: spec
                .and_then(|s| s.get("publicKey"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            last_connect: stamp(LAST_CONNECT_ANNOTATION),
            enrolled: stamp(ENROLLED_ANNOTATION),
            managed: labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some(MANAGED_BY),
        }
    }
}

/// kubewire's Peers (by its label), sorted by name.
pub async fn list(client: &kube::Client) -> Result<Vec<PeerRecord>, ClusterError> {
    let list = peers_api(client)
        .list(&ListParams::default().labels(MANAGED_SELECTOR))
        .await
        .map_err(|e| ClusterError::api("listing kubewire's Kilo Peers", &e))?;
    let mut records: Vec<PeerRecord> = list.items.iter().map(PeerRecord::from_object).collect();
    records.retain(|r| r.managed);
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

/// Deletes one Peer, and the Services `kubewire expose` made for it (they point at its address);
/// one already gone is fine.
pub async fn delete(client: &kube::Client, name: &str) -> Result<(), ClusterError> {
    let exposed = crate::expose::delete_all_of(client, name).await?;
    if !exposed.is_empty() {
        tracing::info!(peer = name, services = %exposed.join(","), "exposed Services of a stale Peer deleted");
    }
    match peers_api(client).delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::debug!(peer = name, "stale Kilo Peer deleted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(ClusterError::api(format!("deleting Kilo Peer {name}"), &e)),
    }
}
