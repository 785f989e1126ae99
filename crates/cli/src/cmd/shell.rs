//! `kubewire completions SHELL` (clap_complete) and `kubewire man [--out-dir DIR]` (clap_mangen):
//! what the packages install under /usr/share, and what a user of a tarball runs by hand.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Arguments of `kubewire completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `kubewire man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (kubewire.1, kubewire-connect.1, ...) into DIR instead of printing
    /// kubewire.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let name = cli.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cli, name, &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing the completion script")?;
    Ok(())
}

/// Prints kubewire.1, or writes every page into `--out-dir`.
pub fn man(args: &ManArgs, cli: clap::Command) -> anyhow::Result<()> {
    match &args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cli)
                .render(&mut out)
                .context("rendering the man page")?;
            std::io::stdout()
                .write_all(&out)
                .context("writing the man page")?;
        }
        Some(dir) => write_pages(dir, cli)?,
    }
    Ok(())
}

fn write_pages(dir: &Path, cli: clap::Command) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating {}: choose a directory you may write to", dir.display()))?;
    clap_mangen::generate_to(cli, dir)
        .with_context(|| format!("writing the man pages into {}", dir.display()))?;
    Ok(())
}
