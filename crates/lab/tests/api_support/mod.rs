//! Shared helpers for the API test server tests: a server on 127.0.0.1 with a fresh CA, token and
//! kubeconfig, and node objects like the lab's.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kubewire_lab::api::{ApiServerConfig, RunningApiServer, Store, Tls, kubeconfig_yaml, serve};
use serde_json::{Value, json};
use std::time::Duration;

pub const TOKEN: &str = "kubewire-test-token";

pub struct TestServer {
    pub store: Store,
    pub server: Option<RunningApiServer>,
    pub addr: SocketAddr,
    pub tls: Tls,
    pub kubeconfig: String,
    pub kubeconfig_path: PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let store = Store::new();
        store.install_kilo_crd().unwrap();
        Self::start_with(store).await
    }

    pub async fn start_with(store: Store) -> TestServer {
        let tls = Tls::generate(&[]).unwrap();
        let cfg = ApiServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: TOKEN.into(),
            tls: tls.clone(),
        };
        let server = serve(store.clone(), cfg).await.unwrap();
        let addr = server.local_addr();
        let kubeconfig = kubeconfig_yaml(&format!("https://{addr}"), &tls.ca_pem, TOKEN, "kubewire-lab");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, &kubeconfig).unwrap();
        TestServer {
            store,
            server: Some(server),
            addr,
            tls,
            kubeconfig,
            kubeconfig_path,
            dir,
        }
    }

    /// Stops the server (closing every connection); the store survives.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts it again on the same address.
    pub async fn restart(&mut self) {
        let cfg = ApiServerConfig {
            listen: self.addr,
            token: TOKEN.into(),
            tls: self.tls.clone(),
        };
        self.server = Some(serve(self.store.clone(), cfg).await.unwrap());
    }

    pub async fn client(&self) -> kube::Client {
        self.client_with_token(TOKEN).await
    }

    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        let yaml = kubeconfig_yaml(
            &format!("https://{}", self.addr),
            &self.tls.ca_pem,
            token,
            "kubewire-lab",
        );
        let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    pub fn add_node(&self, name: &str, ip: &str) -> Value {
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

pub const WAIT: Duration = Duration::from_secs(15);

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
