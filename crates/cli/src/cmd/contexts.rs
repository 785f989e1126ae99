//! `kubewire contexts`: the kubeconfig's contexts, the current one marked.

use kubewire_cluster::kubeconfig;

/// Arguments of `kubewire contexts`.
#[derive(Debug, clap::Args)]
pub struct ContextsArgs {
    /// The kubeconfig file (default: KUBECONFIG's files, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kubewire contexts`.
pub fn run(args: &ContextsArgs) -> anyhow::Result<()> {
    let loaded = kubeconfig::load(args.kubeconfig.as_deref())?;
    let contexts = loaded.contexts();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&contexts)?);
        return Ok(());
    }
    let rows: Vec<[String; 6]> = contexts
        .iter()
        .map(|c| {
            [
                if c.current { "*".into() } else { String::new() },
                c.name.clone(),
                c.cluster.clone(),
                c.server.clone(),
                c.user.clone(),
                c.namespace.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["CURRENT", "NAME", "CLUSTER", "SERVER", "USER", "NAMESPACE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(())
}
