//! The Kubernetes-API test server: a documented **test double** of kube-apiserver.
//!
//! No real API server can be installed on the project's machines, so the project serves its own: real
//! HTTPS (rustls with ring, own CA, HTTP/1.1 and HTTP/2 via ALPN), real bearer-token auth, a real
//! kubeconfig, and the real list/watch protocol, so the `kube` client and `kubectl` use it unmodified.
//!
//! Served: `/version`, legacy and aggregated discovery, core `v1` nodes, namespaces, services,
//! endpoints, pods and events (stored, nothing runs them), `discovery.k8s.io/v1` EndpointSlices
//! (validated: address type and addresses), `networking.k8s.io/v1` ServiceCIDRs (one, `kubernetes`, as in 1.33), and
//! `apiextensions.k8s.io/v1` CustomResourceDefinitions with the resources stored CRDs define (the
//! Kilo `peers.kilo.squat.ai`, see [`Store::install_kilo_crd`]).
//!
//! Verbs: get; list (`limit`/`continue` paging over a consistent snapshot, label and field
//! selectors, `resourceVersionMatch=Exact`); watch (from now, from a resourceVersion, bookmarks,
//! streaming lists, `timeoutSeconds`, selectors, 410 Expired in-stream or as an HTTP status, see
//! [`ExpiredMode`]); create (409 AlreadyExists, `generateName`); update (409 Conflict on a stale
//! resourceVersion); patch (merge; strategic merge for built-ins with the merge keys of the served
//! kinds, 415 for custom resources; JSON patch; server-side apply); delete (preconditions) and
//! deletecollection; `dryRun=All`; the `/status` subresource (main-resource writes leave `status`
//! alone). Services get ClusterIPs from the service CIDR ([`Store::set_service_cidr`]) with
//! kube-apiserver's errors for taken or out-of-range addresses. Every error is a `metav1.Status`;
//! every response has a `Date` header. `kubectl get` receives server-side `Table`s (CRD
//! `additionalPrinterColumns` for custom resources). Authentication is the bearer token only, for
//! every path (like k3s, whose anonymous auth is off). Authorization allows everything unless a
//! test forbids a verb on a resource ([`Store::forbid`]): then 403 Forbidden, and
//! SelfSubjectAccessReviews (`kubectl auth can-i`) say so.
//!
//! Simplified, on purpose:
//! - One version per resource; of the subresources only `/status`; no finalizers or graceful
//!   deletion (deletes are immediate, `propagationPolicy` is ignored); no RBAC; no admission or
//!   defaulting beyond metadata, Services and EndpointSlices; no schema or field validation (`fieldValidation` is
//!   accepted and ignored).
//! - Namespaces need not exist for namespaced objects; [`Store::new`] creates `default`,
//!   `kube-system`, `kube-public` and `kube-node-lease` like a fresh cluster.
//! - Server-side apply tracks field ownership only between apply managers, and lists are atomic
//!   (see `apply.rs`); strategic merge knows only the merge keys of the served kinds.
//! - Request bodies are JSON (YAML for apply); protobuf only for the Namespaces and Services that
//!   `kubectl create namespace|service` post (`protobuf.rs`).
//! - OpenAPI is a stub (`openapi.rs`): enough for kubectl to choose server-side field validation;
//!   no schemas are published.
//! - History since the last compaction is kept in memory (auto-compacted beyond 20 000 events). As in
//!   kube-apiserver, an update that changes nothing keeps the resourceVersion and emits no event.
//!
//! Tests: `crates/apiserver/tests/api_kube.rs` and `api_kube_watch.rs` drive it with the `kube` client,
//! `api_kubectl.rs` with the real `kubectl` (the `KUBECTL` variable picks another binary; verified
//! with 1.20, 1.27, 1.30, 1.32 and 1.33).
//!
//! Using it:
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kubewire_apiserver::{ApiServerConfig, Store, Tls, kubeconfig_yaml, serve};
//! let store = Store::new();
//! store.install_kilo_crd()?;
//! let tls = Tls::generate(&["192.0.2.1".to_string()])?;
//! let cfg = ApiServerConfig { listen: "127.0.0.1:6443".parse()?, token: "secret".into(), tls: tls.clone() };
//! let server = serve(store.clone(), cfg).await?;
//! let url = format!("https://{}", server.local_addr());
//! std::fs::write("kubeconfig", kubeconfig_yaml(&url, &tls.ca_pem, "secret", "kubewire-lab"))?;
//! // kubectl --kubeconfig kubeconfig get nodes -o wide
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod apply;
mod auth;
mod authz;
mod discovery;
mod endpointslices;
mod http;
mod kubeconfig;
mod list;
mod object;
mod openapi;
mod ops;
mod patch;
mod printers;
mod protobuf;
mod resources;
mod router;
mod selector;
mod server;
mod services;
mod status;
mod store;
#[cfg(test)]
mod store_model_tests;
mod strategic;
mod table;
pub mod testing;
mod time;
mod tls;
mod verbs;
mod watch;

pub use discovery::GIT_VERSION;
pub use kubeconfig::{KubeconfigEntry, kubeconfig_yaml, kubeconfig_yaml_contexts};
pub use resources::{PrinterColumn, ResourceType};
pub use server::{ApiServerConfig, RunningApiServer, ServeError, serve};
pub use status::ApiError;
pub use store::{EventType, ExpiredMode, Store, StoreError};
pub use tls::{Tls, TlsError};
