//! TEMPORARY compile stub; replaced by the real API server from the api branch.
#![allow(dead_code, clippy::all)]
use std::net::SocketAddr;
#[derive(Clone, Debug, Default)]
pub struct Store;
#[derive(Debug)]
pub struct StoreError;
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("x")
    }
}
impl Store {
    pub fn new() -> Self {
        Store
    }
    pub fn install_kilo_crd(&self) -> Result<(), StoreError> {
        Ok(())
    }
    pub fn create(&self, o: serde_json::Value) -> Result<serde_json::Value, StoreError> {
        Ok(o)
    }
    pub fn get(&self, _: &str, _: &str, _: Option<&str>, _: &str) -> Option<serde_json::Value> {
        None
    }
    pub fn update(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &str,
        _f: impl FnOnce(&mut serde_json::Value),
    ) -> Result<serde_json::Value, StoreError> {
        Err(StoreError)
    }
    pub fn delete(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &str,
    ) -> Result<serde_json::Value, StoreError> {
        Err(StoreError)
    }
}
#[derive(Clone, Debug)]
pub struct Tls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}
impl Tls {
    pub fn generate(_: &[String]) -> Result<Tls, StoreError> {
        Ok(Tls {
            ca_pem: String::new(),
            cert_pem: String::new(),
            key_pem: String::new(),
        })
    }
}
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    pub listen: SocketAddr,
    pub token: String,
    pub tls: Tls,
}
pub struct RunningApiServer;
impl RunningApiServer {
    pub fn local_addr(&self) -> SocketAddr {
        todo!()
    }
    pub async fn shutdown(self) {}
}
pub async fn serve(_: Store, _: ApiServerConfig) -> Result<RunningApiServer, StoreError> {
    Ok(RunningApiServer)
}
pub fn kubeconfig_yaml(u: &str, _: &str, t: &str, c: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {c}\n  cluster:\n    server: {u}\n    insecure-skip-tls-verify: true\nusers:\n- name: {c}\n  user:\n    token: {t}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {c}\ncurrent-context: {c}\n"
    )
}
