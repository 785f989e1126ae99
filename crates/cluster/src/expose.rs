//! `kubewire expose`'s cluster side: a Service without a selector and an EndpointSlice that points
//! at the laptop's Kilo Peer address, so cluster pods reach a server on the laptop by a Service name
//! with no agent in the cluster (Kilo already routes the Peer's address to every node). Both are
//! server-side applied by kubewire's field manager and labelled as kubewire's and with the Peer's
//! name: `unexpose`, a disconnect and the removal of the Peer delete them, and nothing that is not
//! kubewire's is ever overwritten or deleted.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kubewire_ipc::Protocol;
use serde_json::json;

use crate::error::ClusterError;
use crate::registration::{FIELD_MANAGER, MANAGED_BY, MANAGED_SELECTOR};

/// The label naming the Peer a Service points at.
pub const PEER_LABEL: &str = "kubewire.io/peer";
/// The EndpointSlice's name: the Service's with this suffix.
pub const SLICE_SUFFIX: &str = "-kubewire";
/// `endpointslice.kubernetes.io/managed-by` on our slices (the EndpointSlice controller leaves
/// slices of other managers alone).
pub const SLICE_MANAGER: &str = "kubewire.io";

/// One exposed laptop port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub namespace: String,
    pub name: String,
    /// The Service's port.
    pub port: u16,
    /// The laptop's port.
    pub target: u16,
    pub protocol: Protocol,
    /// The laptop's Kilo Peer address.
    pub address: IpAddr,
    /// The laptop's Kilo Peer.
    pub peer: String,
}

impl Exposure {
    fn port_name(&self) -> String {
        format!("{}-{}", self.protocol.as_str(), self.port)
    }

    /// The Service, as applied.
    #[must_use]
    pub fn service(&self) -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, PEER_LABEL: self.peer},
            },
            "spec": {
                "type": "ClusterIP",
                "ports": [{
                    "name": self.port_name(),
                    "port": self.port,
                    "targetPort": self.target,
                    "protocol": self.protocol.kubernetes(),
                }],
            },
        })
    }

    /// The EndpointSlice, as applied.
    #[must_use]
    pub fn slice(&self) -> serde_json::Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{}{SLICE_SUFFIX}", self.name),
                "namespace": self.namespace,
                "labels": {
                    "kubernetes.io/service-name": self.name,
                    "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                    PEER_LABEL: self.peer,
                },
            },
            "addressType": if self.address.is_ipv4() { "IPv4" } else { "IPv6" },
            "endpoints": [{"addresses": [self.address.to_string()], "conditions": {"ready": true}}],
            "ports": [{
                "name": self.port_name(),
                "port": self.target,
                "protocol": self.protocol.kubernetes(),
            }],
        })
    }
}

fn is_ours(labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .map(String::as_str)
        == Some(MANAGED_BY)
}

/// Creates or updates the Service and its EndpointSlice; the Service's ClusterIP. A Service of
/// that name that is not kubewire's is left alone: an error says so.
pub async fn apply(client: &kube::Client, exposure: &Exposure) -> Result<Option<String>, ClusterError> {
    let services: Api<Service> = Api::namespaced(client.clone(), &exposure.namespace);
    let what = format!("Service {}/{}", exposure.namespace, exposure.name);
    match services.get_opt(&exposure.name).await {
        Ok(Some(existing)) if !is_ours(existing.metadata.labels.as_ref()) => {
            return Err(ClusterError::Api {
                what,
                message: "it exists and is not kubewire's (no app.kubernetes.io/managed-by=kubewire \
                          label); pick another --name"
                    .into(),
            });
        }
        Ok(_) => {}
        Err(e) => return Err(ClusterError::api(format!("reading {what}"), &e)),
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = services
        .patch(&exposure.name, &params, &Patch::Apply(exposure.service()))
        .await
        .map_err(|e| ClusterError::api(format!("applying {what}"), &e))?;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &exposure.namespace);
    let slice_name = format!("{}{SLICE_SUFFIX}", exposure.name);
    if let Err(e) = slices
        .patch(&slice_name, &params, &Patch::Apply(exposure.slice()))
        .await
    {
        // No Service without its endpoints: nothing half done stays in the cluster.
        let _ = delete(client, &exposure.namespace, &exposure.name).await;
        return Err(ClusterError::api(
            format!("applying EndpointSlice {}/{slice_name}", exposure.namespace),
            &e,
        ));
    }
    Ok(applied.spec.and_then(|s| s.cluster_ip))
}

/// Deletes the Service `namespace/name` and its slice if they are kubewire's; whether the Service
/// was there.
pub async fn delete(client: &kube::Client, namespace: &str, name: &str) -> Result<bool, ClusterError> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let what = format!("Service {namespace}/{name}");
    let found = match services.get_opt(name).await {
        Ok(Some(s)) if !is_ours(s.metadata.labels.as_ref()) => {
            return Err(ClusterError::Api {
                what,
                message: "it is not kubewire's; left alone".into(),
            });
        }
        Ok(found) => found.is_some(),
        Err(e) => return Err(ClusterError::api(format!("reading {what}"), &e)),
    };
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let slice_name = format!("{name}{SLICE_SUFFIX}");
    for result in [
        services.delete(name, &DeleteParams::default()).await.map(drop),
        slices
            .delete(&slice_name, &DeleteParams::default())
            .await
            .map(drop),
    ] {
        match result {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(ClusterError::api(format!("deleting {what}"), &e)),
        }
    }
    Ok(found)
}

/// A kubewire Service of the cluster: `namespace/name`, its ports and its Peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Option<String>,
    /// `port->target/protocol`.
    pub ports: Vec<String>,
    pub peer: String,
}

/// kubewire's Services, of every Peer or of `peer`.
pub async fn list(client: &kube::Client, peer: Option<&str>) -> Result<Vec<Exposed>, ClusterError> {
    let services: Api<Service> = Api::all(client.clone());
    let selector = match peer {
        Some(p) => format!("{MANAGED_SELECTOR},{PEER_LABEL}={p}"),
        None => MANAGED_SELECTOR.to_owned(),
    };
    let list = services
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ClusterError::api("listing kubewire's Services", &e))?;
    Ok(list
        .items
        .into_iter()
        .map(|s| {
            let spec = s.spec.unwrap_or_default();
            Exposed {
                namespace: s.metadata.namespace.unwrap_or_default(),
                name: s.metadata.name.unwrap_or_default(),
                cluster_ip: spec.cluster_ip,
                ports: spec
                    .ports
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        let target = p.target_port.as_ref().map_or_else(
                            || p.port.to_string(),
                            |t| match t {
                                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => {
                                    i.to_string()
                                }
                                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => {
                                    s.clone()
                                }
                            },
                        );
                        format!(
                            "{}->{target}/{}",
                            p.port,
                            p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase()
                        )
                    })
                    .collect(),
                peer: s
                    .metadata
                    .labels
                    .and_then(|mut l| l.remove(PEER_LABEL))
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// Deletes every Service (and slice) kubewire made for `peer`: when its Peer goes, or the laptop
/// disconnects. The names deleted.
pub async fn delete_all_of(client: &kube::Client, peer: &str) -> Result<Vec<String>, ClusterError> {
    prune_stale(client, peer, &[]).await
}

/// After a connect: deletes the Services kubewire made for `peer` that the daemon does not hold
/// open (`open`: `namespace/name`), the leftovers of a laptop that crashed or died while something
/// was exposed. The names deleted.
pub async fn prune_stale(
    client: &kube::Client,
    peer: &str,
    open: &[String],
) -> Result<Vec<String>, ClusterError> {
    let mut deleted = Vec::new();
    for e in list(client, Some(peer)).await? {
        let name = format!("{}/{}", e.namespace, e.name);
        if !open.contains(&name) {
            delete(client, &e.namespace, &e.name).await?;
            deleted.push(name);
        }
    }
    Ok(deleted)
}
