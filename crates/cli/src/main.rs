//! `kubewire`: the command line. One file per subcommand under `cmd/`; errors meet anyhow here.

mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Connect this laptop to a Kilo-meshed Kubernetes cluster over WireGuard.
#[derive(Debug, Parser)]
#[command(name = "kubewire", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KUBEWIRE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output::report(&error),
    }
}
