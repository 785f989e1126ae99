//! The checks of `kubewire doctor`, in order, as structured results (the CLI prints them, the tray
//! app shows them): daemon reachable and authorised, kubeconfig, API server reachable, Kilo present,
//! clock, nodes ready, handshakes, path MTU, local networks (ranges the daemon withdrew), route
//! conflicts (of the preview plan), exposed ports (`exposed.rs`). Each failure carries its fix. One file per check where a check is
//! more than a few lines: `clock.rs`, `overlaps.rs`; the report type: `report.rs`.

use std::path::{Path, PathBuf};

use kubewire_core::Plan;
use kubewire_core::plan::RefusalReason;
use kubewire_ipc::{Client, ClientError, Request, Response, Status, TunnelState};

use crate::connect::{ConnectOptions, preview};
use crate::error::{ClusterError, KILO_INSTALL_HELP};
use crate::kubeconfig::ClusterClient;
use crate::path_mtu::PathMtu;
use crate::{discovery, kubeconfig};

mod clock;
mod exposed;
mod os_dns;
mod overlaps;
mod report;

use report::Report;
pub use report::{Check, JsonCheck, JsonReport, JsonStatus, Outcome, failed, json, warnings};

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct DoctorInput {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// The options a connection would use (for the preview plan), or why there are none.
    pub options: Result<ConnectOptions, String>,
}

async fn daemon_status(socket: &Path) -> Result<Status, ClientError> {
    let mut client = Client::connect(socket).await?;
    match client.request(&Request::Status).await? {
        Response::Status { status } => Ok(*status),
        _ => Err(ClientError::Unexpected),
    }
}

/// Runs every check, in order.
pub async fn run(input: &DoctorInput) -> Vec<Check> {
    let mut r = Report::default();
    let daemon = check_daemon(&mut r, &input.socket).await;
    let cluster = check_kubeconfig(&mut r, input).await;
    let api_ok = check_api(&mut r, cluster.as_ref()).await;
    let plan = check_nodes(&mut r, input, api_ok).await;
    check_handshakes(&mut r, daemon.as_ref()).await;
    if let Some(status) = daemon.as_ref().filter(|s| s.state != TunnelState::Disconnected) {
        os_dns::check(&mut r, status, plan.as_ref()).await;
    }
    check_route_conflicts(&mut r, plan.as_ref());
    exposed::check(&mut r, daemon.as_ref(), cluster.as_ref().filter(|_| api_ok)).await;
    r.checks
}

/// The daemon answers on its socket and serves this user.
async fn check_daemon(r: &mut Report, socket: &Path) -> Option<Status> {
    match daemon_status(socket).await {
        Ok(status) => {
            r.ok(
                "daemon reachable and authorised",
                &format!("{} ({:?})", socket.display(), status.state),
            );
            Some(status)
        }
        Err(e) => {
            r.fail_with(
                "daemon reachable and authorised",
                e.problem(),
                kubewire_ipc::problem::DAEMON_LOG_FIX,
            );
            None
        }
    }
}

/// The kubeconfig loads and has the context.
async fn check_kubeconfig(r: &mut Report, input: &DoctorInput) -> Option<ClusterClient> {
    match kubeconfig::load(input.kubeconfig.as_deref()) {
        Ok(loaded) => match loaded.client(input.context.as_deref()).await {
            Ok(c) => {
                r.ok("kubeconfig", &format!("context {} ({})", c.context, c.server));
                Some(c)
            }
            Err(e) => {
                r.fail_with(
                    "kubeconfig",
                    e.problem(),
                    "pick a context from `kubewire contexts` with --context",
                );
                None
            }
        },
        Err(e) => {
            r.fail_with(
                "kubeconfig",
                e.problem(),
                "pass --kubeconfig FILE or set KUBECONFIG",
            );
            None
        }
    }
}

/// The API server answers (its clock too) and has Kilo's Peer CRD; `true` when both hold.
async fn check_api(r: &mut Report, cluster: Option<&ClusterClient>) -> bool {
    let mut api_ok = false;
    if let Some(c) = cluster {
        match discovery::probe_cluster(c).await {
            Ok(clock) => {
                api_ok = true;
                r.ok(
                    "API server reachable",
                    &format!("{} (clock offset {} s)", c.server, clock.offset_secs),
                );
                clock::check(r, clock.offset_secs);
            }
            Err(e) => {
                let problem = e.problem();
                let fix = match (&e, problem.fix) {
                    // Reached, but the credentials are refused or missing: its own fix.
                    (ClusterError::SignInNeeded { .. } | ClusterError::Credentials { .. }, Some(fix)) => fix,
                    _ => format!(
                        "check VPN/network, then `kubectl --context {} get --raw /version`",
                        c.context
                    ),
                };
                r.fail("API server reachable", &problem.what, &fix);
            }
        }
        if api_ok {
            match discovery::check_kilo(&c.client).await {
                Ok(()) => r.ok("Kilo present", "CRD peers.kilo.squat.ai"),
                Err(ClusterError::KiloMissing) => {
                    r.fail("Kilo present", "no CRD peers.kilo.squat.ai", KILO_INSTALL_HELP);
                    api_ok = false;
                }
                Err(e) => {
                    r.fail(
                        "Kilo present",
                        &e.to_string(),
                        "check that your user may read CRDs",
                    );
                    api_ok = false;
                }
            }
        }
    } else {
        r.skip("API server reachable", "no kubeconfig");
    }
    api_ok
}

/// A preview Plan: the nodes that are ready.
async fn check_nodes(r: &mut Report, input: &DoctorInput, api_ok: bool) -> Option<Plan> {
    let mut plan = None;
    if api_ok {
        match &input.options {
            Ok(options) => {
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                match preview(options, tx).await {
                    Ok((_, Ok(p))) => {
                        r.ok(
                            "nodes ready",
                            &format!(
                                "{} of {} nodes ready, {} segments",
                                p.cluster.ready_nodes,
                                p.cluster.nodes,
                                p.peers.len()
                            ),
                        );
                        // The laptop's own Peer is skipped on every connect: expected, not a warning.
                        for s in p.skipped.iter().filter(|s| !s.is_own_peer()) {
                            r.note(&s.to_string());
                        }
                        plan = Some(p);
                    }
                    Ok((_, Err(e))) | Err(e) => r.fail(
                        "nodes ready",
                        &e.to_string(),
                        "check the Kilo agents: kubectl -n kube-system get pods -l app.kubernetes.io/name=kilo -o wide",
                    ),
                }
            }
            Err(e) => r.fail("nodes ready", e, "see the error"),
        }
    } else {
        r.skip("nodes ready", "the cluster is not reachable or has no Kilo");
    }
    plan
}

/// Recent handshakes with every peer, a controller attached, the path MTU.
async fn check_handshakes(r: &mut Report, daemon: Option<&Status>) {
    match daemon.filter(|s| s.state != TunnelState::Disconnected) {
        Some(status) => {
            let stale: Vec<String> = status
                .peers
                .iter()
                .filter(|p| !p.health().is_ok())
                .map(|p| {
                    format!(
                        "{} ({})",
                        p.name,
                        p.last_handshake_secs
                            .map_or_else(|| "never".into(), |a| format!("{a} s ago"))
                    )
                })
                .collect();
            if stale.is_empty() {
                r.ok("handshakes", &format!("{} peers, all recent", status.peers.len()));
            } else {
                r.fail(
                    "handshakes",
                    &format!("no recent handshake with {}", stale.join(", ")),
                    "check that UDP to the endpoint's port (Kilo: 51820) is open in the node's firewall or security group\n\
                     and that the Kilo agent runs on the segment's leader",
                );
            }
            if !status.controller_attached {
                r.note("no controller follows the cluster: the tunnel keeps its last plan; run `kubewire connect`");
            }
            path_mtu_check(r, status).await;
            overlaps::check(r, status);
            for note in crate::container_dns::advice(&status.container_dns) {
                r.note(&note);
            }
        }
        None => r.skip("handshakes", "not connected"),
    }
}

/// Cluster ranges a local network takes (and the command that routes one anyway).
fn check_route_conflicts(r: &mut Report, plan: Option<&Plan>) {
    match plan {
        Some(p) => {
            let conflicts: Vec<String> = p
                .refused
                .iter()
                .filter_map(|f| match &f.reason {
                    RefusalReason::OverlapsLocalNetwork { network } => {
                        Some(format!("{} (for {}) overlaps {network}", f.range, f.peer))
                    }
                    _ => None,
                })
                .collect();
            if conflicts.is_empty() {
                r.ok("route conflicts", "none with this machine's networks");
            } else {
                let commands: Vec<String> = p
                    .refused
                    .iter()
                    .filter(|f| matches!(f.reason, RefusalReason::OverlapsLocalNetwork { .. }))
                    .map(|f| format!("kubewire connect --prefer-tunnel {}", f.range))
                    .collect();
                r.fail(
                    "route conflicts",
                    &conflicts.join("; "),
                    &format!(
                        "those cluster ranges would hijack a local network and are left out (the LAN wins): leave\n\
                         that network (e.g. another VPN), change the cluster's ranges, or route one into the tunnel\n\
                         anyway (remembered for this context):\n{}",
                        commands.join("\n")
                    ),
                );
            }
            for range in &p.policy.prefer_tunnel {
                r.note(&format!(
                    "{range} is routed into the tunnel even over a local network (--prefer-tunnel; \
                     `kubewire connect --lan-wins {range}` lets the LAN win again)"
                ));
            }
            for f in p
                .refused
                .iter()
                .filter(|f| !matches!(f.reason, RefusalReason::OverlapsLocalNetwork { .. }))
            {
                r.note(&f.to_string());
            }
        }
        None => r.skip("route conflicts", "no plan"),
    }
}

/// Whether packets of the tunnel's MTU cross the path ([`crate::path_mtu`]).
async fn path_mtu_check(r: &mut Report, status: &Status) {
    const NAME: &str = "path MTU";
    let (Some(mtu), Some(target)) = (status.mtu, crate::path_mtu::target(status)) else {
        r.skip(NAME, "no peer with a recent handshake to probe");
        return;
    };
    let probed = tokio::task::spawn_blocking(move || crate::path_mtu::probe(target, mtu.mtu)).await;
    match probed {
        Ok(PathMtu::Fits { mtu: size, target }) => r.ok(
            NAME,
            &format!("{size}-byte packets cross the tunnel to {target}; MTU {mtu}"),
        ),
        Ok(PathMtu::TooLarge {
            mtu: size,
            works,
            target,
        }) => r.fail(
            NAME,
            &format!(
                "{size}-byte packets do not reach {target} through the tunnel, {works}-byte ones do: large \
                 responses will hang (MTU {mtu})"
            ),
            &format!("kubewire disconnect && kubewire connect --mtu {works}"),
        ),
        Ok(PathMtu::Unknown { why }) => r.skip(NAME, &why),
        Err(e) => r.skip(NAME, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon check as `run` makes it.
    fn daemon_failure(e: &ClientError) -> (String, String) {
        let mut r = Report::default();
        r.fail_with(
            "daemon reachable and authorised",
            e.problem(),
            kubewire_ipc::problem::DAEMON_LOG_FIX,
        );
        let check = r.checks.remove(0);
        (check.detail, check.fix.unwrap_or_default())
    }

    #[test]
    fn the_daemon_checks_fix_is_the_whole_fix() {
        let socket = "/run/kubewire/kubewired.sock".to_owned();
        let (problem, fix) = daemon_failure(&ClientError::PermissionDenied {
            socket: socket.clone(),
        });
        assert_eq!(
            problem,
            format!("you may not use the kubewire daemon at {socket}")
        );
        assert_eq!(
            fix,
            "Add yourself to the `kubewire` group (`sudo usermod -aG kubewire $USER`, then log in again)"
        );
        // A socket path with ". " in it does not cut the problem short.
        let odd = "/tmp/my. sockets/kw.sock".to_owned();
        let (problem, fix) = daemon_failure(&ClientError::NotRunning { socket: odd.clone() });
        assert_eq!(
            problem,
            format!("the kubewire daemon is not running (nothing listens at {odd})")
        );
        assert!(
            fix.starts_with("Start it: `sudo systemctl start kubewired`"),
            "{fix}"
        );
        // Without a fix of its own: the daemon's log.
        let (problem, fix) = daemon_failure(&ClientError::Closed);
        assert_eq!(problem, "the kubewire daemon closed the connection");
        assert!(fix.contains("journalctl -u kubewired"), "{fix}");
    }

    #[tokio::test]
    async fn a_missing_daemon_and_kubeconfig_fail_with_their_fixes() {
        let dir = tempfile::tempdir().unwrap();
        let input = DoctorInput {
            socket: dir.path().join("none.sock"),
            kubeconfig: Some(dir.path().join("no-kubeconfig")),
            context: None,
            options: Err("unused".into()),
        };
        let checks = run(&input).await;
        assert_eq!(checks[0].name, "daemon reachable and authorised");
        assert_eq!(checks[0].outcome, Outcome::Fail);
        assert!(
            checks[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("systemctl start kubewired")
        );
        assert_eq!(checks[1].name, "kubeconfig");
        assert_eq!(checks[1].outcome, Outcome::Fail);
        assert!(
            checks
                .iter()
                .any(|c| c.name == "nodes ready" && c.outcome == Outcome::Skip)
        );
        assert_eq!(failed(&checks), 2);
    }
}
