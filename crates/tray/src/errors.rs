//! Errors in plain words with the fix, from the user side's error types (the daemon client's
//! [`ClientError`], the cluster's [`ClusterError`]).

use kubewire_cluster::ClusterError;
use kubewire_cluster::error::KILO_INSTALL_HELP;
use kubewire_ipc::{ClientError, ErrorCode};

use crate::types::{ErrorKind, UiError};

fn ui(kind: ErrorKind, title: &str, message: String, fix: &str, command: Option<&str>) -> UiError {
    UiError {
        kind,
        title: title.to_owned(),
        message,
        fix: fix.to_owned(),
        command: command.map(str::to_owned),
    }
}

/// The daemon's errors.
#[must_use]
pub fn from_client(error: &ClientError) -> UiError {
    match error {
        ClientError::NotRunning { socket } => ui(
            ErrorKind::DaemonUnreachable,
            "The kubewire service is not running",
            format!("Nothing listens at {socket}, so the tunnel cannot be set up."),
            "Start the kubewire service (it runs as root and sets up the tunnel), then try again. Without \
             systemd, run `sudo kubewired` in a terminal.",
            Some("sudo systemctl enable --now kubewired"),
        ),
        ClientError::PermissionDenied { socket } => ui(
            ErrorKind::NotAuthorised,
            "You may not use the kubewire service",
            format!("The service at {socket} only answers root and members of the `kubewire` group."),
            "Add yourself to the kubewire group, then log out and in again (or reboot).",
            Some("sudo usermod -aG kubewire $USER"),
        ),
        ClientError::Daemon {
            code: ErrorCode::PlanRefused,
            message,
        } => ui(
            ErrorKind::Refused,
            "The kubewire service refused the connection",
            message.clone(),
            "A cluster range overlaps one of this machine's networks or breaks the safety policy. Leave the \
             conflicting network (another VPN?) or set a service CIDR override in Settings.",
            None,
        ),
        ClientError::Daemon {
            code: ErrorCode::NotOwner,
            message,
        } => ui(
            ErrorKind::Refused,
            "Another user's tunnel is up",
            message.clone(),
            "Only the user who connected can change the tunnel: ask them to disconnect, or disconnect as root.",
            Some("sudo kubewire disconnect"),
        ),
        ClientError::NoAnswer { secs } => ui(
            ErrorKind::DaemonUnreachable,
            "The kubewire service does not answer",
            format!("It took the request but gave no answer within {secs} s: it may be stuck."),
            "Restart the kubewire service, then try again. Without systemd, stop `kubewired` and start it \
             again with `sudo kubewired`.",
            Some("sudo systemctl restart kubewired"),
        ),
        other => {
            // The error's own problem and fix (kubewire_ipc::Problem), else the service's log.
            let problem = other.problem();
            ui(
                ErrorKind::Other,
                "The kubewire service failed",
                problem.what,
                problem
                    .fix
                    .as_deref()
                    .unwrap_or("Check the service's log, then try again."),
                Some("journalctl -u kubewired -n 50"),
            )
        }
    }
}

/// The API server no longer accepts the credentials for `context` (401), while following.
#[must_use]
pub fn sign_in_needed(context: &str, message: &str) -> UiError {
    ui(
        ErrorKind::SignIn,
        &format!("Sign in to {context} again"),
        format!(
            "The API server no longer accepts your credentials ({message}): they expired or were revoked."
        ),
        "Choose \"Sign in again\": kubewire connects again and runs your kubeconfig's login, which may open \
         a browser. The tunnel keeps its last plan meanwhile.",
        Some(&format!("kubectl --context {context} get --raw /version")),
    )
}

/// The cluster side's errors.
#[must_use]
pub fn from_cluster(error: &ClusterError) -> UiError {
    match error {
        ClusterError::Daemon(e) => from_client(e),
        ClusterError::KiloMissing => ui(
            ErrorKind::KiloMissing,
            "Kilo is not installed in this cluster",
            "The cluster has no CustomResourceDefinition peers.kilo.squat.ai: kubewire joins the Kilo \
             WireGuard mesh and needs Kilo running on the nodes."
                .to_owned(),
            &KILO_INSTALL_HELP.replace("install Kilo first:\n", "Install Kilo (as a cluster admin):\n"),
            Some("kubectl apply -f https://raw.githubusercontent.com/squat/kilo/main/manifests/crds.yaml"),
        ),
        ClusterError::Unreachable { url, message } => ui(
            ErrorKind::ApiUnreachable,
            "The cluster's API server does not answer",
            format!("{url}: {message}"),
            "Check your network or VPN, then try again.",
            None,
        ),
        ClusterError::NoKubeconfig { .. }
        | ClusterError::Kubeconfig { .. }
        | ClusterError::UnknownContext { .. }
        | ClusterError::NoCurrentContext
        | ClusterError::ClientConfig { .. } => ui(
            ErrorKind::Kubeconfig,
            "The kubeconfig cannot be used",
            error.problem().what,
            "Pick a context from the list, or point KUBECONFIG at a working kubeconfig file.",
            Some("kubectl config get-contexts"),
        ),
        ClusterError::SignInNeeded { context, .. } => ui(
            ErrorKind::SignIn,
            &format!("Sign in to {context} again"),
            error.problem().what,
            "Choose \"Sign in again\": kubewire connects again and runs your kubeconfig's login, which may \
             open a browser.",
            Some(&format!("kubectl --context {context} get --raw /version")),
        ),
        ClusterError::PeerForbidden { .. } => {
            let problem = error.problem();
            ui(
                ErrorKind::Refused,
                "You may not register this laptop in the cluster",
                problem.what,
                problem.fix.as_deref().unwrap_or_default(),
                Some("kubewire enroll --print > peer.yaml"),
            )
        }
        ClusterError::Credentials { context, .. } => ui(
            ErrorKind::Kubeconfig,
            "No credentials for the cluster",
            error.problem().what,
            "Log in to the cluster again (your cloud CLI's login), then retry.",
            Some(&format!("kubectl --context {context} get --raw /version")),
        ),
        ClusterError::Api { .. } | ClusterError::Key(_) | ClusterError::Plan(_) => {
            let problem = error.problem();
            ui(
                ErrorKind::Other,
                "Connecting failed",
                problem.what,
                problem
                    .fix
                    .as_deref()
                    .unwrap_or("Run the checks in Doctor to see what is missing."),
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_daemon_says_how_to_start_it() {
        let e = from_client(&ClientError::NotRunning {
            socket: "/run/kubewire/kubewired.sock".into(),
        });
        assert_eq!(e.kind, ErrorKind::DaemonUnreachable);
        assert!(e.message.contains("/run/kubewire/kubewired.sock"));
        assert_eq!(
            e.command.as_deref(),
            Some("sudo systemctl enable --now kubewired")
        );
    }

    #[test]
    fn a_stuck_daemon_says_to_restart_it() {
        let e = from_cluster(&ClusterError::Daemon(ClientError::NoAnswer { secs: 30 }));
        assert_eq!(e.kind, ErrorKind::DaemonUnreachable);
        assert_eq!(e.title, "The kubewire service does not answer");
        assert!(e.message.contains("30 s"), "{}", e.message);
        assert_eq!(e.command.as_deref(), Some("sudo systemctl restart kubewired"));
    }

    #[test]
    fn not_in_the_group_gives_the_command() {
        let e = from_cluster(&ClusterError::Daemon(ClientError::PermissionDenied {
            socket: "s".into(),
        }));
        assert_eq!(e.kind, ErrorKind::NotAuthorised);
        assert_eq!(e.command.as_deref(), Some("sudo usermod -aG kubewire $USER"));
    }

    #[test]
    fn the_message_says_the_problem_and_the_fix_is_apart() {
        let e = from_cluster(&ClusterError::UnknownContext {
            context: "prod".into(),
            known: "lab".into(),
        });
        assert_eq!(
            e.message,
            "context \"prod\" is not in the kubeconfig (known: lab)"
        );
        let e = from_cluster(&ClusterError::Credentials {
            context: "sso".into(),
            message: "exec plugin failed".into(),
        });
        assert_eq!(e.message, "getting credentials for sso: exec plugin failed");
        assert_eq!(
            e.command.as_deref(),
            Some("kubectl --context sso get --raw /version")
        );
    }

    #[test]
    fn no_right_to_create_peers_says_how_an_admin_enrolls_the_laptop() {
        let e = from_cluster(&ClusterError::PeerForbidden {
            name: "kubewire-dev-laptop".into(),
            message: "peers.kilo.squat.ai is forbidden".into(),
        });
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(e.message.contains("kubewire-dev-laptop"), "{}", e.message);
        assert!(e.fix.contains("kubewire enroll --print"), "{}", e.fix);
        assert_eq!(e.command.as_deref(), Some("kubewire enroll --print > peer.yaml"));
    }

    #[test]
    fn kilo_missing_says_how_to_install_it() {
        let e = from_cluster(&ClusterError::KiloMissing);
        assert_eq!(e.kind, ErrorKind::KiloMissing);
        assert!(e.fix.contains("kilo-k3s.yaml"), "{}", e.fix);
        assert!(e.command.as_deref().unwrap_or_default().contains("crds.yaml"));
    }
}
