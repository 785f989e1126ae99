//! `kubewire disconnect`: stop the running controller (it takes the tunnel down and deletes the
//! Peer), or, when none runs, ask the daemon directly and delete the Peer named in its session.

use kubewire_cluster::{kubeconfig, registration};
use kubewire_ipc::{Client, ClientError, ErrorCode, Request, Response};

use super::Global;
use super::common::{self, ClusterArgs};

/// Arguments of `kubewire disconnect`.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Leave the laptop's Kilo Peer registered.
    #[arg(long)]
    pub keep_peer: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `kubewire disconnect`.
pub fn run(args: &DisconnectArgs, global: &Global) -> anyhow::Result<()> {
    if let Some(pid) = common::running_controller() {
        return stop_controller(pid, args.keep_peer);
    }
    common::runtime()?.block_on(direct(args, global))
}

#[cfg(unix)]
fn stop_controller(pid: i32, keep_peer: bool) -> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let signal = if keep_peer {
        Signal::SIGUSR1
    } else {
        Signal::SIGTERM
    };
    kill(Pid::from_raw(pid), signal).with_context(|| format!("signalling the controller (pid {pid})"))?;
    let started = Instant::now();
    while common::alive(pid) {
        if started.elapsed() > Duration::from_secs(20) {
            anyhow::bail!(
                "the controller (pid {pid}) did not stop within 20 s; see {}",
                common::log_file()?.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("disconnected (controller pid {pid} stopped)");
    Ok(())
}

#[cfg(not(unix))]
fn stop_controller(pid: i32, _keep_peer: bool) -> anyhow::Result<()> {
    anyhow::bail!("stopping the controller (pid {pid}) is not supported on this OS yet")
}

async fn direct(args: &DisconnectArgs, global: &Global) -> anyhow::Result<()> {
    let mut client = Client::connect(&global.socket).await?;
    let session = match client.request(&Request::Status).await? {
        Response::Status { status } => status.session,
        _ => None,
    };
    match client.request(&Request::Disconnect).await {
        Ok(_) => eprintln!("tunnel down"),
        Err(ClientError::Daemon {
            code: ErrorCode::NoSession,
            ..
        }) => eprintln!("no tunnel was up"),
        Err(e) => return Err(e.into()),
    }
    if args.keep_peer {
        return Ok(());
    }
    let Some(session) = session.filter(|s| !s.peer_name.is_empty()) else {
        return Ok(());
    };
    let loaded = kubeconfig::load(args.cluster.kubeconfig.as_deref())?;
    let context = args.cluster.context.clone().unwrap_or(session.context.clone());
    let cluster = loaded.client(Some(&context)).await?;
    if cluster.server != session.cluster.trim_end_matches('/') {
        eprintln!(
            "warning: context {context} points at {}, not {}; the Peer {} was left; delete it with kubectl",
            cluster.server, session.cluster, session.peer_name
        );
        return Ok(());
    }
    if session.peer_name != registration::Identity::current().peer_name()
        || registration::is_enrolled(&cluster.client, &session.peer_name).await?
    {
        eprintln!(
            "Peer {} was provided by an admin (kubewire enroll --print); it stays",
            session.peer_name
        );
        return Ok(());
    }
    registration::unregister(&cluster.client, &session.peer_name).await?;
    eprintln!("Peer {} deleted", session.peer_name);
    Ok(())
}
