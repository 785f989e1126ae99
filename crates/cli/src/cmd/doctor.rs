//! `kubewire doctor`: checks everything a connection needs, in order, each failure with its fix;
//! exits 1 if any check fails. The checks themselves are `kubewire_cluster::doctor` (the tray app
//! runs them too); this file prints them.

use kubewire_cluster::doctor::{self, Check, DoctorInput, Outcome};

use super::Global;
use super::common::{self, ClusterArgs, SettingsArgs};
use crate::output::Reported;

/// Arguments of `kubewire doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print the checks as JSON: {"checks": [{"name", "status": "ok"|"warn"|"fail", "detail", "fix"}]}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kubewire doctor`.
pub fn run(args: &DoctorArgs, global: &Global) -> anyhow::Result<()> {
    let input = DoctorInput {
        socket: global.socket.clone(),
        kubeconfig: args.cluster.kubeconfig.clone(),
        context: args.cluster.context.clone(),
        options: common::options(&args.cluster, &args.settings).map_err(|e| format!("{e:#}")),
    };
    let checks = common::runtime()?.block_on(doctor::run(&input));
    let failed = doctor::failed(&checks);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doctor::json(&checks))?);
        return if failed > 0 {
            Err(Reported(1).into())
        } else {
            Ok(())
        };
    }
    print!("{}", render(&checks));
    if failed > 0 {
        println!("{failed} check(s) failed");
        return Err(Reported(1).into());
    }
    println!("all checks passed");
    Ok(())
}

/// The checks as text: `✓ name: detail`, `✗ name: problem` with `fix:` lines, `  · note`,
/// `- name: skipped (why)`.
fn render(checks: &[Check]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in checks {
        match c.outcome {
            Outcome::Pass => {
                let _ = writeln!(out, "✓ {}: {}", c.name, c.detail);
            }
            Outcome::Fail => {
                let _ = writeln!(out, "✗ {}: {}", c.name, c.detail);
                for line in c.fix.as_deref().unwrap_or_default().lines() {
                    let _ = writeln!(out, "    fix: {line}");
                }
            }
            Outcome::Note => {
                let _ = writeln!(out, "  · {}", c.detail);
                for line in c.fix.as_deref().unwrap_or_default().lines() {
                    let _ = writeln!(out, "    fix: {line}");
                }
            }
            Outcome::Skip => {
                let _ = writeln!(out, "- {}: skipped ({})", c.name, c.detail);
            }
        }
    }
    out
}
