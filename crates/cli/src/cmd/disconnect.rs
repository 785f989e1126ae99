//! `kubewire disconnect [--name N | --context C | --all]`: for each connection it ends, stop its
//! running controller (it takes its tunnel down and deletes the Peer), or, when none runs, ask the
//! daemon directly and delete the Peer named in its session. Without a name and with one
//! connection up, that one; with several, an error that lists them.

use kubewire_cluster::{kubeconfig, registration};
use kubewire_ipc::{Client, ClientError, ErrorCode, Request, Response, SessionInfo};

use super::Global;
use super::common::{self, ClusterArgs};
use super::controllers;

/// Arguments of `kubewire disconnect`.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Leave the laptop's Kilo Peer registered.
    #[arg(long)]
    pub keep_peer: bool,
    /// The connection to end (see `kubewire status`); `--context C` ends the context's.
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub name: Option<String>,
    /// End every connection, one after the other.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `kubewire disconnect`.
pub fn run(args: &DisconnectArgs, global: &Global) -> anyhow::Result<()> {
    let runtime = common::runtime()?;
    let sessions = runtime.block_on(sessions(global)).unwrap_or_default();
    let running = controllers::running();
    // What is up: the daemon's connections and the controllers that follow one.
    let mut up: Vec<String> = sessions.iter().map(SessionInfo::connection).collect();
    up.extend(running.iter().map(|r| r.name.clone()).filter(|n| !n.is_empty()));
    up.sort();
    up.dedup();
    let wanted: Vec<String> = if args.all {
        up.clone()
    } else if let Some(name) = &args.name {
        vec![kubewire_core::connection::connection_name(name)]
    } else if let Some(context) = &args.cluster.context {
        vec![kubewire_core::connection::connection_name(context)]
    } else if up.len() > 1 {
        anyhow::bail!(
            "several connections are up ({}): name one with `kubewire disconnect --name <name>`, or end \
             them all with `--all`",
            up.join(", ")
        );
    } else {
        up.clone()
    };
    if let Some(missing) = wanted.iter().find(|n| !up.is_empty() && !up.contains(n)) {
        anyhow::bail!(
            "no connection named {missing} is up (connected: {}; see `kubewire status`)",
            up.join(", ")
        );
    }
    if wanted.is_empty() {
        // Nothing known to be up: as before, ask the daemon (it cleans up what a failed removal
        // left), or stop a controller that does not name its connection.
        if let Some(r) = running.first() {
            return stop_controller(r, args.keep_peer);
        }
        return runtime.block_on(direct(args, global, None, None));
    }
    for name in &wanted {
        match running.iter().find(|r| &r.name == name) {
            Some(r) => stop_controller(r, args.keep_peer)?,
            None => {
                let session = sessions.iter().find(|s| &s.connection() == name).cloned();
                runtime.block_on(direct(args, global, Some(name.as_str()), session))?;
            }
        }
    }
    Ok(())
}

/// The daemon's connections (their sessions).
async fn sessions(global: &Global) -> Result<Vec<SessionInfo>, ClientError> {
    let mut client = Client::connect(&global.socket).await?;
    match client.request(&Request::Status).await? {
        Response::Status { status } => {
            let mut all: Vec<SessionInfo> = status
                .connections
                .iter()
                .filter_map(|c| c.session.clone())
                .collect();
            if all.is_empty() {
                all.extend(status.session);
            }
            Ok(all)
        }
        _ => Err(ClientError::Unexpected),
    }
}

#[cfg(unix)]
fn stop_controller(running: &controllers::Running, keep_peer: bool) -> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pid = running.pid;
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
                running.files.log().display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if running.name.is_empty() {
        eprintln!("disconnected (controller pid {pid} stopped)");
    } else {
        eprintln!("disconnected {} (controller pid {pid} stopped)", running.name);
    }
    Ok(())
}

#[cfg(not(unix))]
fn stop_controller(running: &controllers::Running, _keep_peer: bool) -> anyhow::Result<()> {
    anyhow::bail!(
        "stopping the controller (pid {}) is not supported on this OS yet",
        running.pid
    )
}

/// Asks the daemon to end connection `name` (`None`: everything it holds) and deletes the Peer
/// its `session` names.
async fn direct(
    args: &DisconnectArgs,
    global: &Global,
    name: Option<&str>,
    session: Option<SessionInfo>,
) -> anyhow::Result<()> {
    let mut client = Client::connect(&global.socket).await?;
    let session = match session {
        Some(s) => Some(s),
        None if name.is_none() => match client.request(&Request::Status).await? {
            Response::Status { status } => status.session,
            _ => None,
        },
        None => None,
    };
    let request = Request::Disconnect {
        name: name.map(str::to_owned),
    };
    match client.request(&request).await {
        Ok(_) => match name {
            Some(n) => eprintln!("tunnel down ({n})"),
            None => eprintln!("tunnel down"),
        },
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
