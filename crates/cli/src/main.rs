//! `kubewire`: the command line. One file per subcommand under `cmd/`; errors meet anyhow here.

mod cmd;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser};
use tracing_subscriber::EnvFilter;

const AFTER_HELP: &str = "\
Exit status:
  0  ok
  1  failure (e.g. no ready node, a doctor check failed, the daemon refused the plan)
  2  bad input (arguments, kubeconfig, snapshot or key files)
  3  the kubewire daemon is not running (start it: sudo systemctl start kubewired)
  4  not authorised to use the daemon (join the kubewire group)
  5  the cluster is unreachable, or Kilo is not installed in it

Logs: KUBEWIRE_LOG=info (or debug) on stderr. Keys and tokens are never logged.";

/// Connect this laptop to a Kilo-meshed Kubernetes cluster over WireGuard.
#[derive(Debug, Parser)]
#[command(name = "kubewire", version, about, long_about = None, propagate_version = true, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: cmd::Global,
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KUBEWIRE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.run(&cli.global, Cli::command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output::report(&error),
    }
}
