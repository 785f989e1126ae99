//! Shared test helpers: the API test server of [`kubewire_apiserver::testing`] (the Kilo CRD and
//! kube-dns, no ServiceCIDR objects) and a client made by our own kubeconfig loader.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use kubewire_apiserver::Store;
pub use kubewire_apiserver::testing::{TestServer, WAIT, kube_dns, unix_now};
use kubewire_cluster::kubeconfig;

/// A server with the Kilo CRD and kube-dns, as an API server before Kubernetes 1.33: without
/// ServiceCIDR objects.
pub async fn start() -> TestServer {
    let store = Store::new();
    store.install_kilo_crd().unwrap();
    store.create(kube_dns("10.43.0.10")).unwrap();
    start_with(store).await
}

/// A server for `store`, without ServiceCIDR objects (the lab's store starts with the default one;
/// tests that want it create their own).
pub async fn start_with(store: Store) -> TestServer {
    let _ = store.delete("networking.k8s.io/v1", "ServiceCIDR", None, "kubernetes");
    TestServer::start_with(store, "lab").await
}

/// A client through kubewire's kubeconfig loader.
pub async fn client(ts: &TestServer) -> kube::Client {
    let loaded = kubeconfig::load(Some(&ts.kubeconfig_path)).unwrap();
    loaded.client(None).await.unwrap().client
}
