//! `kubewire connect`: connect step by step (each step printed with its timing), then follow the
//! cluster in the foreground until Ctrl-C, or in the background with `--detach`.

use std::time::Instant;

use anyhow::Context as _;
use kubewire_cluster::controller::StopMode;
use kubewire_cluster::daemon_events::follow_daemon;
use kubewire_cluster::{DaemonSink, connect};

use super::Global;
use super::common::{self, ClusterArgs, PidFile, SettingsArgs};
use super::progress::Progress;
use super::{controllers, detach};

pub const LONG_ABOUT: &str = "\
Connect this laptop to the cluster: read the kubeconfig, check the API server and Kilo, find the \
cluster DNS and the service CIDR, get the laptop's key pair (OS keyring, else a 0600 file), register \
the laptop as a Kilo Peer (server-side apply), compute the plan and hand it to the kubewire daemon. \
Each step is printed with its timing.

Then kubewire follows the cluster: nodes and Peers are watched, and every change reaches the tunnel \
within a second or two. If the API server becomes unreachable, the tunnel keeps its last plan and \
kubewire retries. If the kubewire daemon restarts (a crash, `systemctl restart`, a package upgrade), \
kubewire applies the plan to it again as soon as it answers. If the service gateway's segment stops \
answering (no handshake for 3 minutes) while another segment does, the service CIDR moves there, and \
back when it recovers.

Only private-use ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7) are \
routed by default: a public range the cluster asks for (a node's allowed-location-ips, a Peer's \
allowedIPs, a ServiceCIDR) is left out with a warning naming it, and the rest of the plan applies. Allow \
one with --allow-public-range CIDR (repeatable). The daemon re-checks every plan by the same rules.

Preshared keys: `--psk` adds a WireGuard preshared key (post-quantum resistance for the handshake): \
made once per cluster, kept beside the private key, put on the laptop's Peer; every segment uses it. \
A user who may not create Peers gets one into the YAML of `kubewire enroll --print --psk`.

Stopping:
  Ctrl-C or SIGTERM   take the tunnel down and delete the Peer (keep it with --keep-peer)
  --keep-running      Ctrl-C only stops following: the tunnel stays with its last plan
  --detach            follow in the background; `kubewire disconnect` stops it
                      (log: ~/.local/state/kubewire/controller.log)

Examples:
  kubewire connect
  kubewire connect --context prod --service-cidr 10.43.0.0/16 --detach";

/// Arguments of `kubewire connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The connection's name (default: the context's, made DNS-safe: `[a-z0-9-]`). Each connection
    /// has its own interface (`kubewire-<name>`, or `kw-<first 7>-<hash>` when that is too long);
    /// `kubewire disconnect --name` ends one.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Keep following the cluster in the background; `kubewire disconnect` stops it.
    #[arg(long)]
    pub detach: bool,
    /// Leave the laptop's Kilo Peer registered when disconnecting.
    #[arg(long)]
    pub keep_peer: bool,
    /// On Ctrl-C only stop following the cluster: the tunnel stays up with its last plan.
    #[arg(long)]
    pub keep_running: bool,
    /// Print the steps and events as one JSON object a line on stdout (schema: crates/cli/README.md).
    #[arg(long)]
    pub json: bool,
    /// Use a WireGuard preshared key with the cluster: one is made if the laptop has none for this
    /// cluster, kept beside the private key (OS keyring, else a 0600 file) and put on the laptop's Peer
    /// (`spec.presharedKey`). Once made it is always used. Never logged or shown.
    #[arg(long)]
    pub psk: bool,
}

/// Runs `kubewire connect`.
pub fn run(args: &ConnectArgs, global: &Global) -> anyhow::Result<()> {
    // The connection's name; a kubeconfig that cannot be read is reported by the connect itself.
    // Quietly: a `connect --detach` shows its background process's steps, never a log line.
    let quiet = tracing::subscriber::NoSubscriber::default();
    let name = tracing::subscriber::with_default(quiet, || {
        controllers::connection_name(&args.cluster, args.name.as_deref())
    })
    .unwrap_or_else(|_| {
        kubewire_core::connection::connection_name(args.cluster.context.as_deref().unwrap_or_default())
    });
    if args.detach {
        return detach::spawn(global, args.json, &name);
    }
    if let Some(running) =
        controllers::of(&name).filter(|r| i64::from(r.pid) != i64::from(std::process::id()))
    {
        anyhow::bail!(
            "a kubewire controller already runs for the connection {name} (pid {}); run `kubewire \
             disconnect --name {name}` first, or connect under another name (`--name`)",
            running.pid
        );
    }
    common::runtime()?.block_on(foreground(args, global, &name))
}

async fn foreground(args: &ConnectArgs, global: &Global, name: &str) -> anyhow::Result<()> {
    let mut options = common::options(&args.cluster, &args.settings)?;
    options.keep_peer = args.keep_peer;
    options.psk = args.psk;
    options.name = Some(name.to_owned());
    let files = controllers::for_connection(name)?;
    let progress = Progress::new(args.json);
    let sink = DaemonSink::connect(global.socket.clone()).await?;
    let daemon = match follow_daemon(&global.socket).await {
        Ok(rx) => Some(rx),
        Err(error) => {
            progress.warning(&format!(
                "no events from the daemon ({error}); failover is off, and a restarted daemon \
                 does not get the tunnel back by itself"
            ));
            None
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn({
        let progress = progress.clone();
        async move {
            while let Some(event) = rx.recv().await {
                progress.event(&event);
            }
        }
    });
    let _pid = PidFile::create(&files, name)?;
    let started = Instant::now();
    let connection = connect(options, sink, tx, daemon).await?;
    progress.connected(
        started.elapsed().as_millis(),
        &connection.context,
        &connection.peer_name,
        &connection.plan.interface.address.to_string(),
        if args.keep_running {
            "Ctrl-C stops following (the tunnel stays up)."
        } else {
            "Ctrl-C disconnects."
        },
    );
    prune_stale_exposures(global, name, &connection, &progress).await;
    let status_writer = tokio::spawn(write_status(connection.controller.status(), files.status()));
    let mode = wait_for_stop(args).await?;
    status_writer.abort();
    let _ = std::fs::remove_file(files.status());
    let result = connection.controller.stop(mode).await;
    let _ = printer.await;
    result.context("disconnecting")?;
    match mode {
        StopMode::Detach => progress.finished(true, false),
        StopMode::Disconnect { keep_peer } => progress.finished(false, keep_peer),
    }
    Ok(())
}

/// Deletes the Services an earlier run of this laptop exposed and the daemon no longer holds
/// open (a crash, a dead laptop): pods would otherwise call a closed port.
async fn prune_stale_exposures(
    global: &Global,
    name: &str,
    connection: &kubewire_cluster::connect::Connection,
    progress: &Progress,
) {
    let Ok(mut client) = kubewire_ipc::Client::connect(&global.socket).await else {
        return;
    };
    let Ok(kubewire_ipc::Response::Status { status }) = client.request(&kubewire_ipc::Request::Status).await
    else {
        return;
    };
    let open: Vec<String> = kubewire_cluster::exposing::connections(&status)
        .iter()
        .find(|s| s.connection().as_deref() == Some(name))
        .map(|s| s.exposed.iter().map(|p| p.service.clone()).collect())
        .unwrap_or_default();
    match kubewire_cluster::expose::prune_stale(&connection.client, &connection.peer_name, &open).await {
        Ok(deleted) if !deleted.is_empty() => progress.warning(&format!(
            "deleted Services an earlier run exposed and nothing serves any more: {}",
            deleted.join(", ")
        )),
        Ok(_) => {}
        Err(e) => progress.warning(&format!("checking for stale exposed Services: {e}")),
    }
}

/// Keeps `controller.json` (this connection's, [`controllers::Files::status`]) in the state dir up
/// to date for `kubewire status` (no key material in it).
async fn write_status(
    mut status: tokio::sync::watch::Receiver<kubewire_cluster::ControllerStatus>,
    path: std::path::PathBuf,
) {
    loop {
        let text = {
            let s = status.borrow_and_update();
            serde_json::json!({
                "pid": std::process::id(),
                "reachable": s.reachable,
                "unreachable_since": s.unreachable_since,
                "last_error": s.last_error,
                "plan_sent_at": s.plan_sent_at,
                "gateway_override": s.gateway_override.as_ref().map(|(node, reason)| serde_json::json!({"node": node, "reason": reason})),
                "warnings": s.warnings,
                "daemon_lost_since": s.daemon_lost_since,
                "daemon_error": s.daemon_error,
            })
            .to_string()
        };
        let tmp = path.with_extension("json.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Waits for Ctrl-C / SIGTERM (disconnect), SIGUSR1 (disconnect, keep the Peer); ignores SIGHUP.
#[cfg(unix)]
async fn wait_for_stop(args: &ConnectArgs) -> anyhow::Result<StopMode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let disconnect = StopMode::Disconnect {
        keep_peer: args.keep_peer,
    };
    loop {
        tokio::select! {
            _ = int.recv() => {
                return Ok(if args.keep_running { StopMode::Detach } else { disconnect });
            }
            _ = term.recv() => return Ok(disconnect),
            _ = usr1.recv() => return Ok(StopMode::Disconnect { keep_peer: true }),
            _ = hup.recv() => {}
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop(args: &ConnectArgs) -> anyhow::Result<StopMode> {
    tokio::signal::ctrl_c().await.context("Ctrl-C handler")?;
    Ok(if args.keep_running {
        StopMode::Detach
    } else {
        StopMode::Disconnect {
            keep_peer: args.keep_peer,
        }
    })
}
