//! Errors of the user side. Each says what went wrong and, where there is one, what to do.

use std::path::PathBuf;

use kubewire_ipc::Problem;

/// The kubectl commands that install Kilo (printed when the Peer CRD is missing).
pub const KILO_INSTALL_HELP: &str = "\
install Kilo first:
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/crds.yaml
  # k3s with Kilo as the CNI:
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/kilo-k3s.yaml
  # or Kilo as an add-on on Flannel (k3s' default CNI):
  kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/kilo-k3s-flannel.yaml";

/// What to do when the user may not create Peers (printed with [`ClusterError::PeerForbidden`]).
pub const ENROLL_HELP: &str = "ask a cluster admin to register it: run `kubewire enroll --print > peer.yaml` \
                               and have the admin apply it (`kubectl apply -f peer.yaml`; with the admin's \
                               credentials at hand: `kubewire enroll --print | kubectl apply -f -`), then \
                               connect again: kubewire then uses that Peer without writing it";

/// Why logging in again helps with the credentials.
const CREDENTIALS_WHY: &str = "(exec credential plugins such as `aws eks get-token` or \
                               `gke-gcloud-auth-plugin` run as you, with your environment)";

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
    #[error("getting credentials for {context}: {message}; log in again {CREDENTIALS_WHY}")]
    Credentials { context: String, message: String },
    /// The API server does not accept the credentials (401): a token expired or was revoked, a
    /// sign-in session ended. Not a missing permission (that is 403, RBAC).
    #[error(
        "the API server at {server} does not accept your credentials for {context} (401 Unauthorized: \
         expired or revoked); sign in again: `kubectl --context {context} get --raw /version` runs your \
         login, then connect again"
    )]
    SignInNeeded { context: String, server: String },
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
    /// The user may not create or update Kilo Peers (403), and no Peer with the laptop's key exists.
    #[error("this user may not register the laptop as Kilo Peer {name} ({message}); {ENROLL_HELP}")]
    PeerForbidden { name: String, message: String },
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

/// A fix as a sentence: its first letter in upper case.
fn sentence(fix: &str) -> String {
    let mut chars = fix.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl ClusterError {
    /// What went wrong and what to do, for the CLI, `doctor` and the tray. The error's text
    /// (`Display`) is the two together (`problem; fix`, the daemon's `problem. Fix`).
    #[must_use]
    pub fn problem(&self) -> Problem {
        match self {
            Self::NoKubeconfig { looked_at } => Problem::with_fix(
                format!("no kubeconfig found (looked at {looked_at})"),
                "Pass --kubeconfig FILE or set KUBECONFIG",
            ),
            Self::UnknownContext { context, known } => Problem::with_fix(
                format!("context {context:?} is not in the kubeconfig (known: {known})"),
                "See `kubewire contexts`",
            ),
            Self::NoCurrentContext => Problem::with_fix(
                "the kubeconfig has no current-context",
                "Pass --context (see `kubewire contexts`)",
            ),
            Self::Credentials { context, message } => Problem::with_fix(
                format!("getting credentials for {context}: {message}"),
                format!("Log in again {CREDENTIALS_WHY}"),
            ),
            Self::SignInNeeded { context, server } => Problem::with_fix(
                format!(
                    "the API server at {server} does not accept your credentials for {context} \
                     (401 Unauthorized: expired or revoked)"
                ),
                format!(
                    "Sign in again: `kubectl --context {context} get --raw /version` runs your login, \
                     then connect again"
                ),
            ),
            Self::Unreachable { url, message } => Problem::with_fix(
                format!("cannot reach the API server at {url}: {message}"),
                "Check VPN/network",
            ),
            Self::KiloMissing => Problem::with_fix(
                "Kilo is not installed in this cluster (no CustomResourceDefinition peers.kilo.squat.ai)",
                sentence(KILO_INSTALL_HELP),
            ),
            Self::PeerForbidden { name, message } => Problem::with_fix(
                format!("this user may not register the laptop as Kilo Peer {name} ({message})"),
                sentence(ENROLL_HELP),
            ),
            Self::Daemon(e) => e.problem(),
            Self::Kubeconfig { .. }
            | Self::ClientConfig { .. }
            | Self::Api { .. }
            | Self::Key(_)
            | Self::Plan(_) => Problem::bare(self.to_string()),
        }
    }

    /// What to do, if there is something.
    #[must_use]
    pub fn fix(&self) -> Option<String> {
        self.problem().fix
    }

    /// A failed API request, with what was being done.
    pub fn api(what: impl Into<String>, error: &kube::Error) -> Self {
        Self::Api {
            what: what.into(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cluster_error_splits_into_its_problem_and_fix() {
        let errors = [
            ClusterError::NoKubeconfig {
                looked_at: "~/.kube/config".into(),
            },
            ClusterError::UnknownContext {
                context: "prod".into(),
                known: "lab".into(),
            },
            ClusterError::NoCurrentContext,
            ClusterError::Credentials {
                context: "sso".into(),
                message: "exec plugin failed".into(),
            },
            ClusterError::Unreachable {
                url: "https://lab:6443".into(),
                message: "connection refused".into(),
            },
            ClusterError::SignInNeeded {
                context: "sso".into(),
                server: "https://lab:6443".into(),
            },
            ClusterError::KiloMissing,
            ClusterError::Api {
                what: "registering the Peer".into(),
                message: "409".into(),
            },
            ClusterError::Daemon(kubewire_ipc::ClientError::NoAnswer { secs: 30 }),
            ClusterError::PeerForbidden {
                name: "kubewire-jane-laptop".into(),
                message: "forbidden".into(),
            },
        ];
        for e in errors {
            let text = e.to_string();
            let problem = e.problem();
            assert!(text.starts_with(&problem.what), "{text:?} vs {problem:?}");
            if let Some(fix) = &problem.fix {
                assert!(fix.starts_with(char::is_uppercase), "{fix}");
                assert!(text.ends_with(&fix[1..]), "{text:?} vs {fix:?}");
                assert!(
                    !problem.what.contains(&fix[1..]),
                    "the fix is not in the problem: {problem:?}"
                );
            }
        }
    }
}
