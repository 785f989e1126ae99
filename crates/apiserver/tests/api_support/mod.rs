//! Shared helpers for the API test server tests: the server of [`kubewire_apiserver::testing`] with
//! the Kilo CRD only, kube clients for it, and node objects like the lab's.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
pub use kubewire_apiserver::testing::{TOKEN, TestServer, WAIT};
use kubewire_apiserver::{Store, kubeconfig_yaml};
use serde_json::{Value, json};

/// A server with the Kilo CRD and nothing else (context `kubewire-lab`).
pub async fn start_server() -> TestServer {
    let store = Store::new();
    store.install_kilo_crd().unwrap();
    TestServer::start_with(store, "kubewire-lab").await
}

/// kube clients and lab-like nodes for a test server.
pub trait LabServer {
    async fn client(&self) -> kube::Client;
    async fn client_with_token(&self, token: &str) -> kube::Client;
    fn add_ip_node(&self, name: &str, ip: &str) -> Value;
}

impl LabServer for TestServer {
    async fn client(&self) -> kube::Client {
        self.client_with_token(TOKEN).await
    }

    async fn client_with_token(&self, token: &str) -> kube::Client {
        let yaml = kubeconfig_yaml(&self.url, &self.tls.ca_pem, token, "kubewire-lab");
        let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    fn add_ip_node(&self, name: &str, ip: &str) -> Value {
        self.store.create(node(name, ip)).unwrap()
    }
}
/// A Node like the lab's: Kilo annotations, a pod CIDR, addresses, nodeInfo and a Ready condition.
pub fn node(name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/region": name},
            "annotations": {
                "kilo.squat.ai/location": name,
                "kilo.squat.ai/endpoint": format!("{ip}:51820"),
            },
        },
        "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": "v1.33.0+k3s1",
                "osImage": "Debian GNU/Linux 13 (trixie)",
                "kernelVersion": "6.12.0-kubewire",
                "containerRuntimeVersion": "containerd://2.0.0",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "bootID": "", "machineID": "", "systemUUID": "", "kubeProxyVersion": "",
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        },
    })
}

pub fn peer(name: &str, ips: &[&str]) -> Value {
    json!({
        "apiVersion": "kilo.squat.ai/v1alpha1",
        "kind": "Peer",
        "metadata": {"name": name},
        "spec": {"allowedIPs": ips, "publicKey": "GY5aT1N9dTR/nJnT1N2f4ClZWVj0jOAld0r8ysWLyjg=", "persistentKeepalive": 10},
    })
}

pub fn peers_api(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kilo.squat.ai", "v1alpha1", "Peer"),
        "peers",
    );
    Api::all_with(client, &ar)
}

pub async fn next<S: futures::Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("timed out waiting for a stream item")
        .expect("stream ended")
}

/// Skips watcher events until one matches, failing after `WAIT`.
pub async fn until<S, T, F>(s: &mut S, mut f: F) -> T
where
    S: futures::Stream<Item = Result<Event<Node>, watcher::Error>> + Unpin,
    F: FnMut(&Event<Node>) -> Option<T>,
{
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Ok(ev)) = s.next().await
                && let Some(t) = f(&ev)
            {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for a watcher event")
}
