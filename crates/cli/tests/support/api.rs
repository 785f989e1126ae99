//! The lab's Kubernetes-API test server on 127.0.0.1 with a fresh CA, token and
//! kubeconfig, and Kilo-annotated Nodes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubewire_lab::api::{ApiServerConfig, RunningApiServer, Store, Tls, kubeconfig_yaml, serve};
use serde_json::{Value, json};

pub const TOKEN: &str = "kubewire-test-token";
pub const WAIT: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub store: Store,
    pub server: Option<RunningApiServer>,
    pub addr: SocketAddr,
    pub tls: Tls,
    pub url: String,
    pub kubeconfig_path: PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the Kilo CRD and kube-dns.
    pub async fn start() -> TestServer {
        let store = Store::new();
        store.install_kilo_crd().unwrap();
        store.create(kube_dns("10.43.0.10")).unwrap();
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
        let url = format!("https://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, kubeconfig_yaml(&url, &tls.ca_pem, TOKEN, "lab")).unwrap();
        TestServer {
            store,
            server: Some(server),
            addr,
            tls,
            url,
            kubeconfig_path,
            dir,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    pub async fn restart(&mut self) {
        let cfg = ApiServerConfig {
            listen: self.addr,
            token: TOKEN.into(),
            tls: self.tls.clone(),
        };
        self.server = Some(serve(self.store.clone(), cfg).await.unwrap());
    }

    pub fn add_node(&self, name: &str, n: u8) {
        self.store.create(kilo_node(name, n)).unwrap();
    }

    pub fn delete_node(&self, name: &str) {
        self.store.delete("v1", "Node", None, name).unwrap();
    }

    pub fn set_annotation(&self, node: &str, key: &str, value: &str) {
        self.store
            .update("v1", "Node", None, node, |o| {
                o["metadata"]["annotations"][format!("kilo.squat.ai/{key}")] = json!(value);
            })
            .unwrap();
    }

    pub fn peer(&self, name: &str) -> Option<Value> {
        self.store.get("kilo.squat.ai/v1alpha1", "Peer", None, name)
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A ready Kilo node, alone in its location `name`: endpoint 192.0.2.n, internal IP 172.31.n.1/24,
/// pod CIDR 10.42.n.0/24, leader with WireGuard IP 10.4.0.n/16, last seen now.
pub fn kilo_node(name: &str, n: u8) -> Value {
    let (_, public) = kubewire_lab::keys::generate();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/region": name},
            "annotations": {
                "kilo.squat.ai/key": public,
                "kilo.squat.ai/endpoint": format!("192.0.2.{n}:51820"),
                "kilo.squat.ai/internal-ip": format!("172.31.{n}.1/24"),
                "kilo.squat.ai/location": name,
                "kilo.squat.ai/last-seen": unix_now().to_string(),
                "kilo.squat.ai/granularity": "location",
                "kilo.squat.ai/persistent-keepalive": "0",
                "kilo.squat.ai/wireguard-ip": format!("10.4.0.{n}/16"),
            },
        },
        "spec": {"podCIDR": format!("10.42.{n}.0/24"), "podCIDRs": [format!("10.42.{n}.0/24")]},
    })
}

pub fn kube_dns(ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"clusterIP": ip, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
    })
}
