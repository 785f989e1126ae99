//! Errors of the user side. Each says what went wrong and, where there is one, what to do.

use std::path::PathBuf;

/// The kubectl commands that install Kilo (printed when the Peer CRD is missing).
pub const KILO_INSTALL_HELP: &str = "\
install Kilo first:
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/crds.yaml
  # k3s with Kilo as the CNI:
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/kilo-k3s.yaml
  # or Kilo as an add-on on Flannel (k3s' default CNI):
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/kilo-k3s-flannel.yaml";

/// What can go wrong on the user side.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A kubeconfig file is unreadable or malformed.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    /// No kubeconfig file at all.
    #[error("no kubeconfig found (looked at {looked_at}); pass --kubeconfig FILE or set KUBECONFIG")]
    NoKubeconfig { looked_at: String },
    /// The context asked for is not in the kubeconfig.
    #[error("context {context:?} is not in the kubeconfig (known: {known}); see `kubewire contexts`")]
    UnknownContext { context: String, known: String },
    /// No context asked for and no current context.
    #[error("the kubeconfig has no current-context; pass --context (see `kubewire contexts`)")]
    NoCurrentContext,
    /// The kubeconfig is fine but kube cannot build a client from it.
    #[error("kubeconfig context {context:?}: {message}")]
    ClientConfig { context: String, message: String },
    /// The kubeconfig's credentials (token file, exec plugin) did not give a credential.
    #[error(
        "getting credentials for {context}: {message}; log in again (exec credential plugins such as \
         `aws eks get-token` or `gke-gcloud-auth-plugin` run as you, with your environment)"
    )]
    Credentials { context: String, message: String },
    /// The API server cannot be reached.
    #[error("cannot reach the API server at {url}: {message}; check VPN/network")]
    Unreachable { url: String, message: String },
    /// Kilo's Peer CRD is not installed.
    #[error(
        "Kilo is not installed in this cluster (no CustomResourceDefinition peers.kilo.squat.ai); {KILO_INSTALL_HELP}"
    )]
    KiloMissing,
    /// The API server refused or failed a request.
    #[error("{what}: {message}")]
    Api { what: String, message: String },
    /// The laptop's key could not be read or stored.
    #[error("the laptop's WireGuard key: {0}")]
    Key(String),
    /// No plan can be made (e.g. no ready Kilo node).
    #[error("{0}")]
    Plan(String),
    /// The daemon refused or failed.
    #[error(transparent)]
    Daemon(#[from] kubewire_ipc::ClientError),
}

impl ClusterError {
    /// A failed API request, with what was being done.
    pub fn api(what: impl Into<String>, error: &kube::Error) -> Self {
        Self::Api {
            what: what.into(),
            message: error.to_string(),
        }
    }
}
