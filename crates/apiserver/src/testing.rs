//! The API test server for other crates' tests: on 127.0.0.1 with a fresh CA, token and kubeconfig
//! file, stoppable and restartable on the same address, plus Kilo-annotated Nodes and kube-dns.
//!
//! Helpers here panic with a message on failure: they are for tests only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{ApiServerConfig, RunningApiServer, Store, Tls, kubeconfig_yaml, serve};

/// The bearer token every test server accepts.
pub const TOKEN: &str = "kubewire-test-token";
/// How long tests wait for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(15);

/// Makes every test API server of this process send a `Date` header `secs` ahead of this machine's
/// clock (negative: behind): a test of clock-skew handling, in a test binary of its own (the skew
/// is process-wide).
pub fn set_date_skew_secs(secs: i64) {
    super::http::set_date_skew_secs(secs);
}

/// A running test server and its kubeconfig.
pub struct TestServer {
    pub store: Store,
    pub server: Option<RunningApiServer>,
    pub addr: SocketAddr,
    pub tls: Tls,
    pub url: String,
    /// The kubeconfig's text (context `context`), also written to `kubeconfig_path`.
    pub kubeconfig: String,
    pub kubeconfig_path: PathBuf,
    pub dir: tempfile::TempDir,
}

fn check<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("test API server: {what}: {e}"))
}

impl TestServer {
    /// A server with the Kilo CRD and kube-dns at 10.43.0.10.
    pub async fn start() -> Self {
        let store = Store::new();
        check("Kilo CRD", store.install_kilo_crd());
        check("kube-dns", store.create(kube_dns("10.43.0.10")));
        Self::start_with(store, "lab").await
    }

    /// A server for `store`; its kubeconfig's context is named `context`.
    pub async fn start_with(store: Store, context: &str) -> Self {
        let tls = check("TLS", Tls::generate(&[]));
        let cfg = ApiServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: TOKEN.into(),
            tls: tls.clone(),
        };
        let server = check("serve", serve(store.clone(), cfg).await);
        let addr = server.local_addr();
        let url = format!("https://{addr}");
        let kubeconfig = kubeconfig_yaml(&url, &tls.ca_pem, TOKEN, context);
        let dir = check("tempdir", tempfile::tempdir());
        let kubeconfig_path = dir.path().join("kubeconfig");
        check("kubeconfig", std::fs::write(&kubeconfig_path, &kubeconfig));
        Self {
            store,
            server: Some(server),
            addr,
            tls,
            url,
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
        self.server = Some(check("serve", serve(self.store.clone(), cfg).await));
    }

    /// A kubeconfig for this server with another token (for authentication tests).
    #[must_use]
    pub fn kubeconfig_with_token(&self, token: &str, context: &str) -> String {
        kubeconfig_yaml(&self.url, &self.tls.ca_pem, token, context)
    }

    /// Adds [`kilo_node`]`(name, n)`.
    pub fn add_node(&self, name: &str, n: u8) {
        check("create node", self.store.create(kilo_node(name, n)));
    }

    pub fn delete_node(&self, name: &str) {
        check("delete node", self.store.delete("v1", "Node", None, name));
    }

    /// Sets `kilo.squat.ai/<key>` on a node.
    pub fn set_annotation(&self, node: &str, key: &str, value: &str) {
        check(
            "annotate node",
            self.store.update("v1", "Node", None, node, |o| {
                o["metadata"]["annotations"][format!("kilo.squat.ai/{key}")] = json!(value);
            }),
        );
    }

    /// The Kilo Peer `name`, if registered.
    #[must_use]
    pub fn peer(&self, name: &str) -> Option<Value> {
        self.store.get("kilo.squat.ai/v1alpha1", "Peer", None, name)
    }
}

/// Seconds since the Unix epoch.
#[must_use]
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A ready Kilo node, alone in its location `name`: endpoint 192.0.2.n, internal IP 172.31.n.1/24,
/// pod CIDR 10.42.n.0/24, leader with WireGuard IP 10.4.0.n/16, last seen now.
#[must_use]
pub fn kilo_node(name: &str, n: u8) -> Value {
    let public = wireguard_public_key();
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

/// A fresh WireGuard public key (Curve25519, base64 as `wg pubkey` prints it).
fn wireguard_public_key() -> String {
    use base64::Engine;
    let secret = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
    base64::engine::general_purpose::STANDARD.encode(x25519_dalek::PublicKey::from(&secret).as_bytes())
}

/// The kube-dns Service at `ip`.
#[must_use]
pub fn kube_dns(ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"clusterIP": ip, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
    })
}
