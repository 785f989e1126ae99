//! Running commands with their output shown, and failing with the command's name.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Runs a command with inherited stdio; a non-zero exit is an error.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs a command, returning whether it succeeded (output shown).
pub fn try_run(program: &str, args: &[&str]) -> bool {
    eprintln!("$ {program} {}", args.join(" "));
    Command::new(program)
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

/// `cargo args…` with extra environment variables.
pub fn cargo_env(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .context("starting cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// `kubewire-lab` (debug build) with the workspace's lab directory.
pub fn lab(args: &[&str]) -> Result<()> {
    let exe = crate::root().join("target/debug/kubewire-lab");
    let dir = crate::lab_dir();
    let dir = dir.to_string_lossy();
    let mut all = vec!["--dir", &dir];
    all.extend_from_slice(args);
    run(&exe.to_string_lossy(), &all)
}
