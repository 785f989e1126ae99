//! `cargo xtask test` and `bench`.

use std::time::Instant;

use anyhow::Result;

use crate::{cross, demo, dist, dist_test, setup, sh, tray};

/// Runs test files of `tests/` (`--ignored`: they need the lab that is up; one at a time) with `env`.
pub fn e2e(tests: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let mut args = vec!["test", "-p", "kubewire-e2e"];
    for test in tests {
        args.extend(["--test", test]);
    }
    args.extend(["--", "--ignored", "--test-threads=1"]);
    sh::cargo_env(&args, env)
}

/// The end-to-end tests (`tests/`): the real daemon and CLI against the lab. Not `bench`: the
/// benchmarks run with `cargo xtask bench`. `dns_resolved`: resolved mode with a real
/// systemd-resolved in the laptop namespace (setup extracts it).
fn e2e_tests(lab: Lab) -> Result<()> {
    let mut tests = vec![
        "connect",
        "dns",
        "dns_hijack",
        "dns_resolved",
        "dns_neighbours",
        "daemon_restart",
        "faults",
        "lan_overlap",
        "mtu",
        "hostile_routes",
        "handshakes",
        "tray",
    ];
    // Resume freezes the laptop past a WireGuard session (190 s): the tunnel's recovery does not
    // depend on the cluster's topology, so it runs on the default lab only.
    // Containers on the laptop: a laptop-side bridge, independent of the topology too.
    if lab == Lab::Default {
        tests.push("resume");
        tests.push("containers");
        // doctor on a healthy connection: nothing topology-specific either.
        tests.push("doctor");
        // A second connection to the same cluster refused as overlapping (seconds).
        tests.push("connections");
    }
    e2e(&tests, &[])
}

/// Which lab the suites run on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lab {
    /// Four locations, one node each.
    Default,
    /// Two nodes per location, or full granularity.
    Variant,
}

/// Both suites, on one lab.
fn lab_and_e2e_tests(lab: Lab) -> Result<()> {
    lab_tests()?;
    e2e_tests(lab)
}

/// The lab test suite: `crates/lab/tests/lab.rs`, ignored by plain `cargo test` because it needs the lab.
fn lab_tests() -> Result<()> {
    sh::cargo(&[
        "test",
        "-p",
        "kubewire-lab",
        "--test",
        "lab",
        "--",
        "--ignored",
        "--test-threads=1",
    ])
}

/// Brings a lab up with `up_args`, runs `body`, and always takes the lab down again.
fn with_lab(up_args: &[&str], body: impl FnOnce() -> Result<()>) -> Result<()> {
    let mut args = vec!["up"];
    args.extend_from_slice(up_args);
    let result = sh::lab(&args).and_then(|()| body());
    let down = lab_down();
    result.and(down)
}

/// `lab down`, after stopping a demo that runs on the lab.
fn lab_down() -> Result<()> {
    demo::stop()?;
    sh::lab(&["down"])
}

pub fn all() -> Result<()> {
    let started = Instant::now();
    setup::run()?;
    sh::cargo(&["fmt", "--all", "--check"])?;
    // The tray app's crate embeds ui/dist: build the front end before anything compiles it.
    tray::build_ui()?;
    sh::cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cross::check_windows()?;
    tray::ui_tests()?;
    // Tests that skip where their tools are missing fail instead: CI never passes by skipping.
    sh::cargo_env(&["test", "--workspace"], &[("KUBEWIRE_TESTS_STRICT", "1")])?;
    // Every fuzz target (the Plan, the IPC frame decoder, ...) for a few seconds from its seeds.
    crate::fuzz::run(15)?;
    // The e2e tests run the binaries (kubewired, kubewire) from target/debug.
    sh::cargo(&["build", "--workspace", "--bins"])?;
    // The .deb and .rpm of that debug build: contents, scripts, unit, install/remove/purge in a
    // fresh Debian root.
    dist_test::build_and_test(dist::Profile::Debug)?;
    // A lab left by an interrupted run is cleaned up by `up` itself.
    lab_down()?;
    sh::cargo(&[
        "test",
        "-p",
        "kubewire-lab",
        "--test",
        "lifecycle",
        "--",
        "--ignored",
    ])?;
    // The README's first command, on a lab of its own: the demo checks every step it shows, and
    // `lab down` must then stop it and leave nothing behind (also when the demo fails: a lab left up
    // would hold the API port and the namespaces for the next run).
    let demo = demo::run(demo::Build::AlreadyBuilt, false);
    let down = lab_down();
    demo.and(down)?;
    with_lab(&[], || {
        lab_and_e2e_tests(Lab::Default)?;
        tray::e2e()
    })?;
    // kubewired bounded to exactly the systemd unit's capabilities still passes the e2e suite (on a
    // lab of its own: the suite moves nodes and cannot run twice on one lab).
    with_lab(&[], dist_test::e2e_under_unit_capabilities)?;
    // Segments with leaders and members on a location LAN; every node its own segment.
    with_lab(&["--nodes-per-location", "2"], || lab_and_e2e_tests(Lab::Variant))?;
    with_lab(&["--granularity", "full"], || lab_and_e2e_tests(Lab::Variant))?;
    eprintln!(
        "xtask test: all passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask ui-e2e`: the tray app's end-to-end test on a fresh lab.
pub fn ui_e2e() -> Result<()> {
    setup::run()?;
    tray::build_ui()?;
    sh::cargo(&[
        "build",
        "-p",
        "kubewire-lab",
        "-p",
        "kubewire-daemon",
        "-p",
        "kubewire-tray",
        "-p",
        "kubewire-window",
    ])?;
    with_lab(&[], tray::e2e)
}

/// Criterion benches of the core, then the main job's benchmarks against the lab, with release
/// binaries (`tests/tests/bench.rs`, `tests/tests/dns_bench.rs`; numbers as `BENCH` lines).
pub fn bench() -> Result<()> {
    setup::run()?;
    sh::cargo(&["bench", "-p", "kubewire-core"])?;
    // Release binaries of what the benchmarks run (not the tray app: it is measured by
    // scripts/tray-cost.sh).
    sh::cargo(&[
        "build",
        "--release",
        "-p",
        "kubewire-daemon",
        "-p",
        "kubewire-cli",
        "--bins",
    ])?;
    // The split-DNS benchmark runs the resolver on its own too (cache off), next to the daemon's.
    sh::cargo(&["build", "--release", "-p", "kubewire-dns", "--example", "dnsd"])?;
    sh::cargo(&["build", "-p", "kubewire-lab"])?;
    let bins = crate::root().join("target/release");
    let run = || {
        sh::cargo_env(
            &[
                "test",
                "-p",
                "kubewire-e2e",
                "--test",
                "bench",
                "--test",
                "dns_bench",
                "--",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ],
            &[("KUBEWIRE_BIN_DIR", &bins.to_string_lossy())],
        )
    };
    with_lab(&[], run)
}
