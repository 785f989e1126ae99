//! `kubewired`: the privileged kubewire daemon. See `crates/daemon/README.md`.

mod apply;
mod change;
mod changes;
mod cleanup;
mod connection;
mod container_bridges;
mod container_dns;
mod create;
mod daemon;
mod decide;
mod dns;
#[cfg(test)]
mod dns_busy_tests;
mod dns_runtime;
mod dns_sync;
mod error;
mod events;
mod expose;
mod exposed_file;
mod handshake_now;
mod inbound;
mod lan_yield;
mod local_networks;
#[cfg(target_os = "linux")]
mod logind;
#[cfg(test)]
mod model_tests;
mod mtu;
mod netmon;
mod network_event;
mod os;
mod persist;
mod policy;
#[cfg(any(target_os = "linux", windows))]
mod power;
#[cfg(windows)]
mod power_windows;
mod prepare;
mod registry;
mod restore;
mod resume;
mod session;
mod teardown;
mod underlay;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// How often the daemon checks that BoringTun did not take a signal meant for it.
const SIGNAL_WATCH: Duration = Duration::from_secs(1);

/// kubewired: puts this machine into a Kubernetes cluster meshed by Kilo, on behalf of `kubewire`.
///
/// Runs as root. Listens on a local socket for Plans computed by the unprivileged `kubewire` CLI or
/// tray app, re-checks each Plan with the safety policy (no default route, nothing overlapping this
/// machine's own networks), and applies only the difference to one WireGuard interface and its routes.
/// What it changes is recorded in <STATE_DIR>/state.json before each change; at start it undoes
/// whatever a crashed predecessor left; on SIGTERM/SIGINT and on `kubewire disconnect` it removes
/// everything.
///
/// Only root and members of the group (default `kubewire`) may use the socket:
///   sudo groupadd --system kubewire && sudo usermod -aG kubewire $USER
///
/// Logs: RUST_LOG=kubewired=debug,kubewire_tunnel=debug for more. Backend: kernel WireGuard when the
/// kernel has it, else BoringTun in-process (force with KUBEWIRE_WG_BACKEND=userspace|kernel).
///
/// `kubewired cleanup` (for package removal scripts) undoes what a stopped or crashed daemon left,
/// as its state file says, and exits; it refuses while a daemon answers on the socket.
///
/// Exit codes: 0 stopped cleanly; 1 could not start (socket, state dir) or could not remove
/// everything at shutdown; 2 bad command line.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to listen.
    #[arg(long, global = true, value_name = "PATH", default_value = kubewire_ipc::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Where the state file lives.
    #[arg(long, global = true, value_name = "DIR", default_value = "/var/lib/kubewire")]
    state_dir: PathBuf,
    /// The group whose members may use the daemon (besides root).
    #[arg(long, value_name = "NAME", default_value = kubewire_ipc::GROUP)]
    group: String,
    /// Socket mode in octal, overriding 0660/0600 (for tests of the credential check).
    #[arg(long, value_name = "OCTAL", hide = true, value_parser = parse_octal)]
    socket_mode: Option<u32>,
    /// Seconds one call into the WireGuard backend may take.
    #[arg(long, value_name = "SECS", default_value_t = 5, hide = true)]
    backend_timeout: u64,
    /// How to point the system at the cluster resolver: resolved, resolv-conf, macos, nrpt or none
    /// (default: detected; KUBEWIRE_DNS_BACKEND also overrides).
    #[arg(long, value_name = "BACKEND", value_parser = parse_dns_backend)]
    dns_backend: Option<kubewire_dns::BackendKind>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Undo what a stopped or crashed kubewired left (interface, routes, DNS) and exit. Refuses while
    /// a kubewired answers on --socket.
    Cleanup,
    /// Run as the Windows service (what the MSI registers; the service control manager starts it).
    #[cfg(windows)]
    Service,
}

fn parse_dns_backend(s: &str) -> Result<kubewire_dns::BackendKind, String> {
    kubewire_dns::BackendKind::parse(s)
        .ok_or_else(|| format!("unknown DNS backend {s:?} (resolved, resolv-conf, macos, nrpt, none)"))
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|e| e.to_string())
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let state_file = persist::Journal::new(&args.state_dir);
    let dns_options = dns::DnsOptions {
        paths: dns::os_paths(&args.state_dir),
        backend: args.dns_backend,
    };
    // DNS before anything else: a crashed predecessor may have left the system's resolver pointing
    // at a resolver that no longer runs.
    dns::restore_all_at_start(&state_file, &dns_options.paths).await;
    let restored = restore::restore(&state_file);
    tracing::debug!(?restored, "restore done");
    let mut server = os::Listener::bind(&args.socket, &args.group, args.socket_mode).await?;
    let daemon = daemon::Daemon::new(state_file, Duration::from_secs(args.backend_timeout), dns_options);
    tokio::spawn(events::run(daemon.clone()));
    tokio::spawn(netmon::run(daemon.clone()));
    tokio::spawn(resume::run(daemon.clone()));
    #[cfg(target_os = "linux")]
    tokio::spawn(logind::run(daemon.clone()));
    #[cfg(windows)]
    tokio::spawn(power_windows::run(daemon.clone()));
    let mut stop = os::Stop::new()?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        "kubewired ready"
    );
    // BoringTun installs its own SIGTERM/SIGINT handlers and may catch the signal first: then its
    // threads stop, which this watch turns into the same clean stop. Once a second: nothing in
    // the daemon wakes up faster than 1 Hz at rest (it was 4 Hz, the largest of its wake-ups).
    let mut watch = tokio::time::interval(SIGNAL_WATCH);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = watch.tick() => if daemon.backend_took_a_signal() {
                tracing::info!("BoringTun stopped on a signal meant for kubewired");
                break;
            },
            accepted = server.accept() => match accepted {
                Ok(conn) => { tokio::spawn(connection::serve(daemon.clone(), conn)); }
                Err(err) => tracing::warn!(error = %err, "accept failed"),
            },
            () = stop.requested() => break,
        }
    }
    tracing::info!("stopping: removing the tunnel");
    let clean = daemon.shutdown().await;
    server.remove();
    Ok(clean)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    #[cfg(windows)]
    if matches!(args.command, Some(Command::Service)) {
        return os::run_service(move || run_to_exit(args));
    }
    run_to_exit(args)
}

/// Runs the command on its own runtime, to the process's exit code.
fn run_to_exit(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the runtime");
            return ExitCode::from(1);
        }
    };
    let result = match args.command {
        Some(Command::Cleanup) => runtime.block_on(cleanup::run(&args.socket, &args.state_dir)),
        _ => runtime.block_on(run(args)),
    };
    // A wedged WireGuard backend may hold a blocking thread forever: do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::from(1)
        }
    }
}
