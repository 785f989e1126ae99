//! Subcommands, one file each.

pub mod plan;

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Compute the laptop's connection plan from a saved cluster snapshot (no cluster, no root).
    #[command(long_about = plan::LONG_ABOUT)]
    Plan(plan::PlanArgs),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Plan(args) => plan::run(&args),
        }
    }
}
