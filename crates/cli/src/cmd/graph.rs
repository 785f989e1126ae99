//! `kubewire graph`: the mesh as this laptop would see it, read from the cluster, as GraphViz DOT
//! or (`--json`) as nodes and edges (nothing is registered or stored; without a stored key a
//! throwaway one stands in).

use kubewire_cluster::connect::preview;
use kubewire_core::render::{dot, graph_json};

use super::common::{self, ClusterArgs, SettingsArgs};

/// Arguments of `kubewire graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print the graph as JSON: `{"subnet", "nodes": [{"id", "kind", ...}], "edges": [{"from",
    /// "to", "kind", "service_gateway", "allowed_ips"}]}` (see the CLI README).
    #[arg(long)]
    pub json: bool,
}

/// Runs `kubewire graph`.
pub fn run(args: &GraphArgs) -> anyhow::Result<()> {
    let options = common::options(&args.cluster, &args.settings)?;
    common::runtime()?.block_on(async {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (_, plan) = preview(&options, tx).await?;
        let plan = plan?;
        crate::output::warnings(&plan);
        if args.json {
            print!("{}", graph_json::render(&plan)?);
        } else {
            print!("{}", dot::render(&plan));
        }
        Ok(())
    })
}
