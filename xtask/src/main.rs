//! `cargo xtask`: the project's tasks. `setup` installs what the project needs on a Debian machine,
//! `lab` drives the network-namespace cluster, `demo` runs the main job on it, `test` runs everything
//! CI runs, `bench` the benchmarks.

mod cross;
mod demo;
mod dist;
mod dist_test;
mod fuzz;
#[cfg(test)]
mod installers_test;
mod setup;
mod sh;
mod test;
mod timings;
mod tray;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    about = "kubewire's project tasks",
    after_help = "Run as root: the lab builds network namespaces."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the Debian packages and tools the project needs (idempotent; only what is missing).
    Setup,
    /// The lab cluster: `up [--nodes-per-location N] [--granularity full] [--clusters 2]`, `down`, `status`,
    /// `node … [--cluster b]`, `api … [--cluster b]`.
    Lab {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The main job on the built-in demo cluster (the lab): kubewired on the laptop, `kubewire
    /// connect`, pods and service names from the laptop, status, topology and a live change, each
    /// checked. It stays connected; `cargo xtask lab down` stops it.
    Demo {
        /// Also start the tray app and its window against the demo's daemon (needs a desktop
        /// session, or `xvfb-run -a`).
        #[arg(long)]
        tray: bool,
        /// Stop a running demo (disconnect, stop its processes) and leave the lab up.
        #[arg(long)]
        stop: bool,
    },
    /// Everything CI runs: fmt, clippy, unit and API tests, then the lab tests on a fresh lab.
    Test,
    /// The benchmarks.
    Bench,
    /// Every fuzz target of fuzz/fuzz_targets/ for a bounded time each, from its seeds
    /// (installs cargo-fuzz when missing; a crash fails).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS)]
        seconds: u64,
    },
    /// Release binaries, the UI and the Linux packages (.deb, .rpm) into target/dist/, with sizes.
    Dist {
        /// Then run `dist-test` on them.
        #[arg(long)]
        test: bool,
        /// Package the debug build (what CI does: it checks the packaging, not the optimiser).
        #[arg(long)]
        debug: bool,
    },
    /// Tests of the packages `dist` made last: contents, scripts, the unit, install/remove/purge in a
    /// fresh Debian root (root, debootstrap, rpm).
    DistTest {
        /// Only install/remove/purge this .deb in a fresh Debian root (skips the other checks).
        #[arg(long, value_name = "PATH")]
        deb: Option<PathBuf>,
    },
    /// The e2e tests with kubewired held to the systemd unit's capabilities (needs a lab up).
    UnitCapabilities,
    /// The tray app's end-to-end test alone: builds the UI and the app, brings a lab up, runs
    /// `tests/ui-e2e/run.sh`, takes the lab down (hold /tmp/kubewire-lab.lock).
    UiE2e,
}

/// The workspace root.
pub fn root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map(PathBuf::from).unwrap_or(xtask)
}

/// The lab's directory.
pub fn lab_dir() -> PathBuf {
    root().join("target/lab")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    std::env::set_current_dir(root())?;
    match cli.command {
        Command::Setup => setup::run(),
        Command::Lab { args } => {
            sh::cargo(&["build", "--quiet", "-p", "kubewire-lab"])?;
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if args.first() == Some(&"down") {
                // The demo's daemon and controller run in the lab's laptop: they go first.
                demo::stop()?;
            }
            sh::lab(&args)
        }
        Command::Demo { stop: true, .. } => demo::stop(),
        Command::Demo { tray, stop: false } => demo::run(demo::Build::Yes, tray),
        Command::Test => test::all(),
        Command::Bench => test::bench(),
        Command::Fuzz { seconds } => fuzz::run(seconds, fuzz::Build::Release),
        Command::Dist { test, debug } => {
            let profile = if debug {
                dist::Profile::Debug
            } else {
                dist::Profile::Release
            };
            if test {
                dist_test::build_and_test(profile)
            } else {
                dist::run(profile).map(drop)
            }
        }
        Command::DistTest { deb: None } => dist_test::run(),
        Command::DistTest { deb: Some(deb) } => dist_test::install_in_fresh_debian(&deb),
        Command::UnitCapabilities => {
            sh::cargo(&["build", "--workspace", "--bins"])?;
            dist_test::e2e_under_unit_capabilities()
        }
        Command::UiE2e => test::ui_e2e(),
    }
}
