//! Subcommands, one file each.

pub mod bug_report;
pub mod common;
pub mod connect;
pub mod contexts;
pub mod controllers;
pub mod detach;
pub mod disconnect;
pub mod doctor;
pub mod enroll;
pub mod expose;
pub mod graph;
pub mod peers;
pub mod plan;
pub mod progress;
pub mod shell;
pub mod showconf;
pub mod status;

use std::path::PathBuf;

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The kubewire daemon's socket.
    #[arg(long, global = true, value_name = "PATH", env = "KUBEWIRE_SOCKET", default_value = kubewire_ipc::DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect this laptop to the cluster and follow it (Ctrl-C disconnects).
    #[command(long_about = connect::LONG_ABOUT)]
    Connect(connect::ConnectArgs),
    /// Take the tunnel down (stopping a background controller) and delete the laptop's Peer.
    Disconnect(disconnect::DisconnectArgs),
    /// The tunnel's status: per segment endpoint, handshake age, traffic; gateway; warnings.
    Status(status::StatusArgs),
    /// The live WireGuard configuration (private key redacted).
    Showconf(showconf::ShowconfArgs),
    /// The cluster's mesh as this laptop would see it, as GraphViz DOT or JSON.
    Graph(graph::GraphArgs),
    /// Check everything a connection needs, each failure with its fix.
    Doctor(doctor::DoctorArgs),
    /// Print the laptop's Kilo Peer as YAML for a cluster admin to apply (when you may not create Peers).
    #[command(long_about = enroll::LONG_ABOUT)]
    Enroll(enroll::EnrollArgs),
    /// kubewire's Kilo Peers in the cluster (owner, last connect); `peers prune` removes stale ones.
    #[command(long_about = peers::LONG_ABOUT)]
    Peers(peers::PeersArgs),
    /// Let cluster pods reach a server on this laptop by a Service name (only that port opens).
    #[command(long_about = expose::LONG_ABOUT)]
    Expose(expose::ExposeArgs),
    /// Remove an exposed Service and close its laptop port to the cluster again.
    Unexpose(expose::UnexposeArgs),
    /// The laptop ports exposed to the cluster, with their Services.
    Exposed(expose::ExposedArgs),
    /// The kubeconfig's contexts.
    Contexts(contexts::ContextsArgs),
    /// Write one archive for a bug report: versions, status, doctor, the plan, recent logs, the
    /// system's DNS and routes; keys and tokens removed.
    BugReport(bug_report::BugReportArgs),
    /// Compute the laptop's connection plan from a saved cluster snapshot (no cluster, no root).
    #[command(long_about = plan::LONG_ABOUT)]
    Plan(plan::PlanArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command with --out-dir.
    Man(shell::ManArgs),
}

impl Command {
    /// Runs the subcommand; `cli` builds the whole command line (for completions and man pages).
    pub fn run(self, global: &Global, cli: fn() -> clap::Command) -> anyhow::Result<()> {
        match self {
            Self::Connect(args) => connect::run(&args, global),
            Self::Disconnect(args) => disconnect::run(&args, global),
            Self::Status(args) => status::run(&args, global),
            Self::Showconf(args) => showconf::run(&args, global),
            Self::Graph(args) => graph::run(&args),
            Self::Doctor(args) => doctor::run(&args, global),
            Self::Enroll(args) => enroll::run(&args),
            Self::Peers(args) => peers::run(&args, global),
            Self::Expose(args) => expose::run_expose_cmd(&args, global),
            Self::Unexpose(args) => expose::run_unexpose_cmd(&args, global),
            Self::Exposed(args) => expose::run_exposed_cmd(&args, global),
            Self::Contexts(args) => contexts::run(&args),
            Self::BugReport(args) => bug_report::run(&args, global),
            Self::Plan(args) => plan::run(&args),
            Self::Completions(args) => shell::completions(&args, cli()),
            Self::Man(args) => shell::man(&args, cli()),
        }
    }
}
