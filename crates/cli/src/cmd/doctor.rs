//! `kubewire doctor`: checks everything a connection needs, in order, each failure with its fix;
//! exits 1 if any check fails.

use kubewire_cluster::connect::preview;
use kubewire_cluster::error::KILO_INSTALL_HELP;
use kubewire_cluster::failover::STALE_AFTER;
use kubewire_cluster::{ClusterError, discovery, kubeconfig};
use kubewire_core::plan::RefusalReason;
use kubewire_ipc::{Client, Request, Response, Status, TunnelState};

use super::Global;
use super::common::{self, ClusterArgs, SettingsArgs};
use crate::output::Reported;

/// Arguments of `kubewire doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn ok(&mut self, name: &str, detail: &str) {
        println!("✓ {name}: {detail}");
    }
    fn fail(&mut self, name: &str, problem: &str, fix: &str) {
        self.failed += 1;
        println!("✗ {name}: {problem}");
        for line in fix.lines() {
            println!("    fix: {line}");
        }
    }
    fn note(&mut self, text: &str) {
        println!("  · {text}");
    }
    fn skip(&mut self, name: &str, why: &str) {
        println!("- {name}: skipped ({why})");
    }
}

/// Runs `kubewire doctor`.
pub fn run(args: &DoctorArgs, global: &Global) -> anyhow::Result<()> {
    let failed = common::runtime()?.block_on(checks(args, global));
    if failed > 0 {
        println!("{failed} check(s) failed");
        return Err(Reported(1).into());
    }
    println!("all checks passed");
    Ok(())
}

async fn daemon_status(global: &Global) -> Result<Status, kubewire_ipc::ClientError> {
    let mut client = Client::connect(&global.socket).await?;
    match client.request(&Request::Status).await? {
        Response::Status { status } => Ok(*status),
        _ => Err(kubewire_ipc::ClientError::Unexpected),
    }
}

async fn checks(args: &DoctorArgs, global: &Global) -> usize {
    let mut r = Report::default();
    let daemon = match daemon_status(global).await {
        Ok(status) => {
            r.ok(
                "daemon reachable and authorised",
                &format!("{} ({:?})", global.socket.display(), status.state),
            );
            Some(status)
        }
        Err(e) => {
            let text = e.to_string();
            let (problem, fix) = text
                .split_once(". ")
                .or_else(|| text.split_once(": add"))
                .unwrap_or((&text, ""));
            r.fail(
                "daemon reachable and authorised",
                problem,
                if fix.is_empty() { &text } else { fix },
            );
            None
        }
    };

    let cluster = match kubeconfig::load(args.cluster.kubeconfig.as_deref()) {
        Ok(loaded) => match loaded.client(args.cluster.context.as_deref()).await {
            Ok(c) => {
                r.ok("kubeconfig", &format!("context {} ({})", c.context, c.server));
                Some(c)
            }
            Err(e) => {
                r.fail(
                    "kubeconfig",
                    &e.to_string(),
                    "pick a context from `kubewire contexts` with --context",
                );
                None
            }
        },
        Err(e) => {
            r.fail(
                "kubeconfig",
                &e.to_string(),
                "pass --kubeconfig FILE or set KUBECONFIG",
            );
            None
        }
    };

    let mut api_ok = false;
    if let Some(c) = &cluster {
        match discovery::probe(&c.client, &c.server).await {
            Ok(clock) => {
                api_ok = true;
                r.ok(
                    "API server reachable",
                    &format!("{} (clock offset {} s)", c.server, clock.offset_secs),
                );
                if clock.offset_secs.abs() > 30 {
                    r.note("this machine's clock is off; kubewire uses the API server's clock for readiness");
                }
            }
            Err(e) => r.fail(
                "API server reachable",
                &e.to_string(),
                &format!(
                    "check VPN/network, then `kubectl --context {} get --raw /version`",
                    c.context
                ),
            ),
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

    let mut plan = None;
    if api_ok {
        match common::options(&args.cluster, &args.settings) {
            Ok(options) => {
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                match preview(&options, tx).await {
                    Ok((_, Ok(p))) => {
                        r.ok(
                            "nodes ready",
                            &format!("{} of {} nodes ready, {} segments", p.cluster.ready_nodes, p.cluster.nodes, p.peers.len()),
                        );
                        for s in &p.skipped {
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
            Err(e) => r.fail("nodes ready", &format!("{e:#}"), "see the error"),
        }
    } else {
        r.skip("nodes ready", "the cluster is not reachable or has no Kilo");
    }

    match daemon.as_ref().filter(|s| s.state != TunnelState::Disconnected) {
        Some(status) => {
            let stale: Vec<String> = status
                .peers
                .iter()
                .filter(|p| p.last_handshake_secs.is_none_or(|a| a >= STALE_AFTER.as_secs()))
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
        }
        None => r.skip("handshakes", "not connected"),
    }

    match &plan {
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
                r.fail(
                    "route conflicts",
                    &conflicts.join("; "),
                    "those cluster ranges would hijack a local network and are left out: leave that network\n\
                     (e.g. another VPN), or change the cluster's ranges",
                );
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
    r.failed
}
