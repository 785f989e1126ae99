//! `cargo xtask fuzz [--seconds N]`: every fuzz target in `fuzz/fuzz_targets/` for N seconds each,
//! starting from its committed seeds (`fuzz/seeds/<target>/`, when present); a crash fails the run
//! (libFuzzer leaves the input in `fuzz/artifacts/<target>/`). Installs cargo-fuzz when missing; if
//! that fails (no network), says so loudly and returns without failing. The generated corpus
//! (`fuzz/corpus/`) and artifacts are not committed (`.gitignore`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Seconds per target when none are given.
pub const DEFAULT_SECONDS: u64 = 20;

/// The targets: the `.rs` files of `fuzz/fuzz_targets/`, by name, sorted.
pub fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// How the targets are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// cargo-fuzz's default: optimized (many more executions a second; a long build).
    Release,
    /// Without optimizations (`--dev`): builds in a fraction of the time; for the short smoke run
    /// of `cargo xtask test`, where the build, not the run, is what costs.
    Dev,
}

/// The arguments of `cargo fuzz run` for `target`: its working corpus first (where new inputs
/// go), then its seeds if it has any, and the time bound.
pub fn run_args(fuzz_dir: &Path, target: &str, seconds: u64, build: Build) -> Vec<String> {
    let mut args = vec!["fuzz".to_owned(), "run".to_owned()];
    if build == Build::Dev {
        args.push("--dev".to_owned());
    }
    args.extend([target.to_owned(), format!("corpus/{target}")]);
    if fuzz_dir.join("seeds").join(target).is_dir() {
        args.push(format!("seeds/{target}"));
    }
    args.extend([
        "--".to_owned(),
        format!("-max_total_time={seconds}"),
        // A slow input is not a finding here; a hang still is (libFuzzer's default 1,200 s).
        "-rss_limit_mb=4096".to_owned(),
    ]);
    args
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn have_cargo_fuzz() -> bool {
    Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs every target for `seconds` each.
pub fn run(seconds: u64, build: Build) -> Result<()> {
    let fuzz_dir: PathBuf = crate::root().join("fuzz");
    if !have_cargo_fuzz() {
        eprintln!("$ cargo install --locked cargo-fuzz");
        let installed = Command::new(cargo())
            .args(["install", "--locked", "cargo-fuzz"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed || !have_cargo_fuzz() {
            eprintln!();
            eprintln!("==================================================================");
            eprintln!("SKIPPED fuzz: cargo-fuzz is missing and `cargo install --locked cargo-fuzz` failed");
            eprintln!("==================================================================");
            eprintln!();
            return Ok(());
        }
    }
    let targets = targets(&fuzz_dir)?;
    if targets.is_empty() {
        bail!("no fuzz targets in {}", fuzz_dir.join("fuzz_targets").display());
    }
    let mut failed = Vec::new();
    for target in &targets {
        std::fs::create_dir_all(fuzz_dir.join("corpus").join(target))?;
        let args = run_args(&fuzz_dir, target, seconds, build);
        eprintln!("$ (cd fuzz && RUSTC_BOOTSTRAP=1 cargo {})", args.join(" "));
        let status = Command::new(cargo())
            .args(&args)
            .current_dir(&fuzz_dir)
            // cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain allows them so.
            .env("RUSTC_BOOTSTRAP", "1")
            .status()
            .context("starting cargo fuzz")?;
        if !status.success() {
            eprintln!("fuzz target {target} failed ({status}); the input is in fuzz/artifacts/{target}/");
            failed.push(target.clone());
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    eprintln!(
        "xtask fuzz: {} targets ({}) ran {seconds} s each without a crash",
        targets.len(),
        targets.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_target_file_is_found_and_seeds_are_used_when_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fuzz_targets")).unwrap();
        for name in ["plan.rs", "ipc_frame.rs", "dns_packet.rs", "README.md"] {
            std::fs::write(dir.path().join("fuzz_targets").join(name), "").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("seeds/plan")).unwrap();
        assert_eq!(
            targets(dir.path()).unwrap(),
            vec!["dns_packet", "ipc_frame", "plan"]
        );
        let with_seeds = run_args(dir.path(), "plan", 15, Build::Release);
        assert_eq!(
            &with_seeds[..5],
            &["fuzz", "run", "plan", "corpus/plan", "seeds/plan"]
        );
        assert!(with_seeds.contains(&"-max_total_time=15".to_owned()));
        let without = run_args(dir.path(), "dns_packet", 15, Build::Dev);
        assert_eq!(
            &without[..5],
            &["fuzz", "run", "--dev", "dns_packet", "corpus/dns_packet"]
        );
        assert_eq!(without[5], "--");
    }

    #[test]
    fn the_repository_targets_include_the_ipc_frame_decoder() {
        let found = targets(&crate::root().join("fuzz")).unwrap();
        assert!(found.contains(&"ipc_frame".to_owned()), "{found:?}");
        assert!(found.contains(&"plan".to_owned()), "{found:?}");
    }
}
