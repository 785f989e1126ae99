//! Watching Nodes and Kilo Peers (kube-runtime's watcher) and turning them into the core's plain
//! sources. A watch that loses its history (410 Gone) re-lists, in both forms: an in-stream `ERROR`
//! event (the watcher re-lists by itself) and an HTTP 410 on the watch request (kube's watcher would
//! retry the same resourceVersion forever, so the watcher is restarted, which lists afresh). Other
//! errors are reported and retried with backoff.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt as _};
use kubewire_core::{NodeSource, PeerEndpointSource, PeerSource};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::registration::peers_api;

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterChange {
    /// A (re-)list finished: these are all the Nodes.
    NodesListed(Vec<NodeSource>),
    /// A Node was added or changed.
    NodeApplied(NodeSource),
    /// A Node was deleted.
    NodeDeleted(String),
    /// A (re-)list finished: these are all the Peers.
    PeersListed(Vec<PeerSource>),
    /// A Peer was added or changed.
    PeerApplied(PeerSource),
    /// A Peer was deleted.
    PeerDeleted(String),
    /// A (re-)list finished: these are all the Namespaces.
    NamespacesListed(Vec<String>),
    /// A Namespace was added or changed.
    NamespaceApplied(String),
    /// A Namespace was deleted.
    NamespaceDeleted(String),
    /// A watch failed (it is retried).
    WatchFailed {
        /// `nodes`, `peers` or `namespaces`.
        resource: &'static str,
        /// The API server's HTTP status code, when it answered (403: RBAC refuses).
        status: Option<u16>,
        /// Why.
        message: String,
    },
    /// A watch lost its history (410 Gone) and is re-listing.
    Expired {
        /// `nodes`, `peers` or `namespaces`.
        resource: &'static str,
    },
}

/// The plain source of a Node.
#[must_use]
pub fn node_source(node: &Node) -> NodeSource {
    let spec = node.spec.as_ref();
    let pod_cidrs = spec
        .and_then(|s| s.pod_cidrs.clone())
        .filter(|v| !v.is_empty())
        .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
        .unwrap_or_default();
    NodeSource {
        name: node.name_any(),
        labels: node.labels().clone(),
        annotations: node.annotations().clone(),
        pod_cidrs,
    }
}

fn int(v: Option<&Value>) -> i64 {
    v.and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(0)
}

/// The plain source of a Kilo Peer.
#[must_use]
pub fn peer_source(peer: &DynamicObject) -> PeerSource {
    let spec = peer.data.get("spec");
    let get = |p: &str| spec.and_then(|s| s.pointer(p));
    let text = |p: &str| get(p).and_then(Value::as_str).map(str::to_owned);
    PeerSource {
        name: peer.name_any(),
        allowed_ips: get("/allowedIPs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        public_key: text("/publicKey").unwrap_or_default(),
        endpoint: get("/endpoint")
            .filter(|e| e.is_object())
            .map(|_| PeerEndpointSource {
                dns: text("/endpoint/dnsOrIP/dns"),
                ip: text("/endpoint/dnsOrIP/ip"),
                port: int(get("/endpoint/port")),
            }),
        persistent_keepalive: int(get("/persistentKeepalive")),
        has_preshared_key: text("/presharedKey").is_some_and(|s| !s.is_empty()),
    }
}

/// The API server's HTTP status code in a watch error, when the API server answered.
fn status_code(error: &watcher::Error) -> Option<u16> {
    match error {
        watcher::Error::WatchError(status)
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    }
}

fn is_expired(error: &watcher::Error) -> bool {
    status_code(error) == Some(410)
}

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Follows one resource until `tx` closes.
async fn follow<K>(
    api: Api<K>,
    resource: &'static str,
    convert: impl Fn(&K) -> ClusterChange + Send,
    listed: impl Fn(Vec<ClusterChange>) -> ClusterChange + Send,
    deleted: impl Fn(String) -> ClusterChange + Send,
    tx: mpsc::Sender<ClusterChange>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut backoff = BACKOFF_START;
    loop {
        let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
        let mut buffer = Vec::new();
        loop {
            let change = match stream.next().await {
                None => break,
                Some(Ok(Event::Init)) => {
                    buffer.clear();
                    continue;
                }
                Some(Ok(Event::InitApply(obj))) => {
                    buffer.push(convert(&obj));
                    continue;
                }
                Some(Ok(Event::InitDone)) => listed(std::mem::take(&mut buffer)),
                Some(Ok(Event::Apply(obj))) => convert(&obj),
                Some(Ok(Event::Delete(obj))) => deleted(obj.name_any()),
                Some(Err(error)) if is_expired(&error) => {
                    tracing::info!(resource, "watch expired (410 Gone); re-listing");
                    if tx.send(ClusterChange::Expired { resource }).await.is_err() {
                        return;
                    }
                    break;
                }
                Some(Err(error)) => {
                    tracing::debug!(resource, %error, backoff_ms = backoff.as_millis() as u64, "watch failed");
                    let message = error.to_string();
                    let status = status_code(&error);
                    if tx
                        .send(ClusterChange::WatchFailed {
                            resource,
                            status,
                            message,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            backoff = BACKOFF_START;
            if tx.send(change).await.is_err() {
                return;
            }
        }
    }
}

/// Follows the Nodes.
pub async fn follow_nodes(client: kube::Client, tx: mpsc::Sender<ClusterChange>) {
    let api: Api<Node> = Api::all(client);
    follow(
        api,
        "nodes",
        |n| ClusterChange::NodeApplied(node_source(n)),
        |items| {
            ClusterChange::NodesListed(
                items
                    .into_iter()
                    .filter_map(|c| match c {
                        ClusterChange::NodeApplied(n) => Some(n),
                        _ => None,
                    })
                    .collect(),
            )
        },
        ClusterChange::NodeDeleted,
        tx,
    )
    .await;
}

/// Follows the Kilo Peers.
pub async fn follow_peers(client: kube::Client, tx: mpsc::Sender<ClusterChange>) {
    follow(
        peers_api(&client),
        "peers",
        |p| ClusterChange::PeerApplied(peer_source(p)),
        |items| {
            ClusterChange::PeersListed(
                items
                    .into_iter()
                    .filter_map(|c| match c {
                        ClusterChange::PeerApplied(p) => Some(p),
                        _ => None,
                    })
                    .collect(),
            )
        },
        ClusterChange::PeerDeleted,
        tx,
    )
    .await;
}

/// Follows the Namespaces (for the resolver: `<svc>.<ns>` goes to the cluster only for these).
pub async fn follow_namespaces(client: kube::Client, tx: mpsc::Sender<ClusterChange>) {
    let api: Api<Namespace> = Api::all(client);
    follow(
        api,
        "namespaces",
        |n| ClusterChange::NamespaceApplied(n.name_any()),
        |items| {
            ClusterChange::NamespacesListed(
                items
                    .into_iter()
                    .filter_map(|c| match c {
                        ClusterChange::NamespaceApplied(n) => Some(n),
                        _ => None,
                    })
                    .collect(),
            )
        },
        ClusterChange::NamespaceDeleted,
        tx,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn refused(code: u16) -> Box<Status> {
        Status::failure(
            "nodes is forbidden: User \"dev\" cannot watch resource \"nodes\"",
            "",
        )
        .with_code(code)
        .boxed()
    }

    #[test]
    fn the_status_code_is_read_from_every_kind_of_api_answer() {
        assert_eq!(status_code(&watcher::Error::WatchError(refused(403))), Some(403));
        assert_eq!(
            status_code(&watcher::Error::InitialListFailed(kube::Error::Api(refused(401)))),
            Some(401)
        );
        assert_eq!(
            status_code(&watcher::Error::WatchStartFailed(kube::Error::Api(refused(403)))),
            Some(403)
        );
        assert_eq!(status_code(&watcher::Error::NoResourceVersion), None);
        assert!(is_expired(&watcher::Error::WatchFailed(kube::Error::Api(
            refused(410)
        ))));
        assert!(!is_expired(&watcher::Error::WatchError(refused(403))));
    }
}
