//! `cargo xtask test`, `demo` and `bench`.

use std::time::Instant;

use anyhow::{Result, bail};

use crate::{cross, dist, dist_test, setup, sh, tray};

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
fn e2e_tests() -> Result<()> {
    e2e(&["connect", "dns", "dns_resolved", "daemon_restart", "tray"], &[])
}

/// Both suites, on one lab.
fn lab_and_e2e_tests() -> Result<()> {
    lab_tests()?;
    e2e_tests()
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
    let down = sh::lab(&["down"]);
    result.and(down)
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
    // The e2e tests run the binaries (kubewired, kubewire) from target/debug.
    sh::cargo(&["build", "--workspace", "--bins"])?;
    // The .deb and .rpm of that debug build: contents, scripts, unit, install/remove/purge in a
    // fresh Debian root.
    dist_test::build_and_test(dist::Profile::Debug)?;
    // A lab left by an interrupted run is cleaned up by `up` itself.
    sh::lab(&["down"])?;
    sh::cargo(&[
        "test",
        "-p",
        "kubewire-lab",
        "--test",
        "lifecycle",
        "--",
        "--ignored",
    ])?;
    with_lab(&[], || {
        lab_and_e2e_tests()?;
        tray::e2e()
    })?;
    // kubewired bounded to exactly the systemd unit's capabilities still passes the e2e suite (on a
    // lab of its own: the suite moves nodes and cannot run twice on one lab).
    with_lab(&[], dist_test::e2e_under_unit_capabilities)?;
    // Segments with leaders and members on a location LAN; every node its own segment.
    with_lab(&["--nodes-per-location", "2"], lab_and_e2e_tests)?;
    with_lab(&["--granularity", "full"], lab_and_e2e_tests)?;
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

pub fn demo() -> Result<()> {
    setup::run()?;
    sh::cargo(&["build", "-p", "kubewire-lab"])?;
    sh::lab(&["up"])?;
    let lab = crate::lab_dir();
    let kubeconfig = lab.join("kubeconfig");
    let kubeconfig = kubeconfig.to_string_lossy();
    eprintln!("\nThe cluster's API, through a real kubectl:");
    sh::run(
        "kubectl",
        &["--kubeconfig", &kubeconfig, "get", "nodes", "-o", "wide"],
    )?;
    sh::run("kubectl", &["--kubeconfig", &kubeconfig, "get", "services", "-A"])?;
    eprintln!("\nFrom the aws node, pods in every cloud answer through the Kilo mesh:");
    for ip in ["10.42.0.10", "10.42.1.10", "10.42.2.10", "10.42.3.10"] {
        sh::run(
            "ip",
            &[
                "netns",
                "exec",
                "kw-n-aws",
                "curl",
                "-sS",
                "--max-time",
                "3",
                &format!("http://{ip}/"),
            ],
        )?;
    }
    eprintln!("\nFrom the laptop (kw-laptop), without kubewire, the cluster is out of reach:");
    if sh::try_run(
        "ip",
        &[
            "netns",
            "exec",
            "kw-laptop",
            "curl",
            "-sS",
            "--max-time",
            "2",
            "http://10.42.0.10/",
        ],
    ) {
        bail!("the laptop reached a pod without kubewire: the lab is broken");
    }
    eprintln!(
        "\nThe lab stays up: explore with `ip netns exec kw-laptop ...` and kubectl; `cargo xtask lab down` ends it."
    );
    Ok(())
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
