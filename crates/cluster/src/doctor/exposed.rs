//! doctor's `expose` check: for every laptop port a connection exposes (`kubewire expose`), what
//! would keep a pod from reaching it, each with its fix: the inbound filter not in place, nothing
//! (or only a loopback server) listening on the port, the Service or its EndpointSlice gone or
//! pointing elsewhere, the laptop's Kilo Peer not routing the address. With nothing exposed: whether
//! this user may create the Services and EndpointSlices an expose needs (RBAC).

use std::net::IpAddr;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use kubewire_ipc::{ExposedPort, Protocol, Status};

use super::report::Report;
use crate::expose::SLICE_SUFFIX;
use crate::kubeconfig::ClusterClient;
use crate::registration::peers_api;

const NAME: &str = "expose";

/// Whether this user may `verb` `resource` of `group` in `namespace` (`None`: could not ask).
async fn may(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> Option<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: Some(namespace.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    api.create(&PostParams::default(), &review)
        .await
        .ok()
        .and_then(|r| r.status)
        .map(|s| s.allowed)
}

/// The RBAC an expose needs in `namespace`: what is missing.
async fn missing_rights(client: &kube::Client, namespace: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for (group, resource) in [("", "services"), ("discovery.k8s.io", "endpointslices")] {
        if may(client, "create", group, resource, namespace).await == Some(false) {
            let full = if group.is_empty() {
                resource.to_owned()
            } else {
                format!("{resource}.{group}")
            };
            missing.push(full);
        }
    }
    missing
}

/// What keeps the cluster from the local server of `port`, if anything.
fn listener_problem(port: &ExposedPort, address: IpAddr) -> Option<(String, String)> {
    if port.protocol != Protocol::Tcp {
        return None;
    }
    crate::exposing::listener_warning(port.port, address).map(|w| {
        (
            format!("{}: {w}", port.service),
            format!("run your server on 0.0.0.0:{}", port.port),
        )
    })
}

/// What the cluster holds for `port` of the laptop at `address`, as Peer `peer`: a problem, if any.
async fn cluster_problem(
    client: &kube::Client,
    port: &ExposedPort,
    address: IpAddr,
    peer: &str,
) -> Option<(String, String)> {
    let (namespace, name) = port.service.split_once('/')?;
    let again = format!("kubewire expose {} --name {name} -n {namespace}", port.port);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    match slices.get_opt(&format!("{name}{SLICE_SUFFIX}")).await {
        Ok(Some(slice)) => {
            let here = address.to_string();
            if !slice
                .endpoints
                .iter()
                .flatten()
                .any(|e| e.addresses.contains(&here))
            {
                return Some((
                    format!(
                        "{}: its EndpointSlice does not point at this laptop ({here})",
                        port.service
                    ),
                    format!("run `{again}` again"),
                ));
            }
        }
        Ok(None) => {
            return Some((
                format!(
                    "{}: the Service's EndpointSlice is gone from the cluster",
                    port.service
                ),
                format!("run `{again}` again"),
            ));
        }
        Err(e) => {
            return Some((
                format!("{}: reading its EndpointSlice: {e}", port.service),
                "check that you may read endpointslices.discovery.k8s.io".into(),
            ));
        }
    }
    // Kilo routes a Peer's allowedIPs to every node: the laptop's address must be among them.
    match peers_api(client).get_opt(peer).await {
        Ok(Some(p)) => {
            let allowed: Vec<String> = p.data["spec"]["allowedIPs"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let routed = allowed
                .iter()
                .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
                .any(|net| net.contains(&address));
            (!routed).then(|| {
                (
                    format!(
                        "Kilo does not route {address} to this laptop: its Peer {peer} allows {}",
                        allowed.join(", ")
                    ),
                    "disconnect and connect again (the Peer is registered anew)".to_owned(),
                )
            })
        }
        Ok(None) => Some((
            format!("the laptop's Kilo Peer {peer} is gone: Kilo routes nothing to this laptop"),
            "disconnect and connect again (the Peer is registered anew)".to_owned(),
        )),
        Err(e) => Some((
            format!("reading the laptop's Kilo Peer {peer}: {e}"),
            "check that you may read peers.kilo.squat.ai".to_owned(),
        )),
    }
}

/// The check.
pub(super) async fn check(r: &mut Report, daemon: Option<&Status>, cluster: Option<&ClusterClient>) {
    let connections = daemon.map(crate::exposing::connections).unwrap_or_default();
    let exposing: Vec<&Status> = connections.iter().filter(|s| !s.exposed.is_empty()).collect();
    if exposing.is_empty() {
        let Some(cluster) = cluster else {
            return;
        };
        let namespace = cluster.namespace.clone().unwrap_or_else(|| "default".into());
        let missing = missing_rights(&cluster.client, &namespace).await;
        if missing.is_empty() {
            r.ok(
                NAME,
                &format!("nothing exposed; you may create the Services an expose needs in {namespace}"),
            );
        } else {
            r.warn(
                NAME,
                &format!(
                    "`kubewire expose` would fail in namespace {namespace}: you may not create {}",
                    missing.join(" or ")
                ),
                &format!(
                    "ask a cluster admin for create, get and delete on {} in {namespace} (or use -n with a namespace you may write)",
                    missing.join(" and ")
                ),
            );
        }
        return;
    }
    let mut problems = Vec::new();
    let mut fine = Vec::new();
    for status in exposing {
        let Some(address) = status.address.map(|a| a.addr()) else {
            continue;
        };
        if !status.inbound_filter {
            problems.push((
                "the inbound filter is not in place: the exposed ports cannot be opened alone".to_owned(),
                "see the warnings of `kubewire status` (iptables missing?)".to_owned(),
            ));
            continue;
        }
        let peer = status
            .session
            .as_ref()
            .map(|s| s.peer_name.clone())
            .unwrap_or_default();
        let same_cluster = status
            .session
            .as_ref()
            .zip(cluster)
            .is_some_and(|(s, c)| s.cluster.trim_end_matches('/') == c.server.trim_end_matches('/'));
        for port in &status.exposed {
            let mut found = listener_problem(port, address);
            if found.is_none()
                && same_cluster
                && let Some(c) = cluster
            {
                found = cluster_problem(&c.client, port, address, &peer).await;
            }
            match found {
                Some(p) => problems.push(p),
                None => fine.push(format!(
                    "{} -> {address}:{}/{}",
                    port.service,
                    port.port,
                    port.protocol.as_str()
                )),
            }
        }
    }
    if problems.is_empty() {
        r.ok(
            NAME,
            &format!(
                "{}: listening, Service and EndpointSlice in place, Peer routed",
                fine.join(", ")
            ),
        );
    }
    for (problem, fix) in problems {
        r.fail(NAME, &problem, &fix);
    }
}
