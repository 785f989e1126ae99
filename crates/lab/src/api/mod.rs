//! The Kubernetes-API test server: a documented **test double** of kube-apiserver.
//!
//! No real API server can be installed on the project's machines, so the lab serves its own: real
//! HTTPS (rustls, own CA, HTTP/1.1 and HTTP/2 via ALPN), real bearer-token auth, a real kubeconfig,
//! and the real list/watch protocol, so the `kube` client and `kubectl` talk to it unmodified.
//!
//! Served: `/version`, legacy and aggregated discovery, core `v1` nodes, namespaces, services and
//! endpoints, `apiextensions.k8s.io/v1` CustomResourceDefinitions, and whatever resources the stored
//! CRDs define (the Kilo `peers.kilo.squat.ai`, see [`Store::install_kilo_crd`]). Verbs: get, list
//! (`limit`/`continue` paging over a consistent snapshot, label and field selectors), watch
//! (resume from a resourceVersion, bookmarks, streaming lists, `timeoutSeconds`, 410 Expired as an
//! in-stream ERROR or as an HTTP status, see [`ExpiredMode`]), create, update (resourceVersion
//! conflicts), patch (merge, strategic merge for built-ins with the merge keys of the served kinds and 415
//! for custom resources, JSON patch, server-side apply) and delete. `kubectl get` receives server-side `Table`s.
//!
//! Simplified, on purpose:
//! - One version per resource; no subresources (`/status`, `/scale`), no deletecollection, no
//!   finalizers or graceful deletion (deletes are immediate), no admission, no defaulting beyond
//!   metadata, no schema validation, no `dryRun`; namespaces need not exist for namespaced objects.
//! - Server-side apply tracks field ownership only between apply managers; lists are atomic (see
//!   `apply.rs`).
//! - OpenAPI is a stub (`openapi.rs`): enough for kubectl to choose server-side field validation,
//!   which the double accepts but does not perform; no schemas are published.
//! - History since the last compaction is kept in memory (auto-compacted beyond 20 000 events).
//!
//! Using it with kubectl: start it ([`serve`]), write [`kubeconfig_yaml`] to a file and run
//! `kubectl --kubeconfig FILE get nodes -o wide` (the lab writes `target/lab/kubeconfig`).

mod apply;
mod auth;
mod discovery;
mod http;
mod kubeconfig;
mod list;
mod object;
mod openapi;
mod patch;
mod resources;
mod router;
mod selector;
mod server;
mod status;
mod store;
mod strategic;
mod table;
mod time;
mod tls;
mod watch;

pub use discovery::GIT_VERSION;
pub use kubeconfig::kubeconfig_yaml;
pub use resources::{PrinterColumn, ResourceType};
pub use server::{ApiServerConfig, RunningApiServer, ServeError, serve};
pub use status::ApiError;
pub use store::{EventType, ExpiredMode, Store, StoreError};
pub use tls::{Tls, TlsError};
