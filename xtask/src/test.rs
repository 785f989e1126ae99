//! `cargo xtask test` and `bench`.

use std::time::Instant;

use anyhow::Result;

use crate::timings::timed;
use crate::{cross, demo, dist, dist_test, setup, sh, tray};

/// Runs test files of `tests/` (`--ignored`: they need the lab that is up; one at a time) with
/// `env`, each file timed as `<lab> e2e <file>`. Every file runs even when one fails (so that one
/// run shows every failure); the first failure is returned.
pub fn e2e(lab: &str, tests: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let mut first_failure = None;
    for test in tests {
        let args = [
            "test",
            "-p",
            "kubewire-e2e",
            "--test",
            test,
            "--",
            "--ignored",
            "--test-threads=1",
        ];
        let result = timed(&format!("{lab}: e2e {test}"), || sh::cargo_env(&args, env));
        if let Err(e) = result {
            first_failure.get_or_insert(e);
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// The end-to-end tests (`tests/`): the real daemon and CLI against the lab. Not `bench`: the
/// benchmarks run with `cargo xtask bench`. `dns_resolved`: resolved mode with a real
/// systemd-resolved in the laptop namespace (setup extracts it).
///
/// The variant lab (two nodes per location) changes only the cluster's topology:
/// segments, leaders and members, the routes to them. It reruns the files whose subject is that
/// topology (routes and pods per node, handshakes with every segment, leaders' allowed location
/// IPs); the rest (DNS, the laptop's own networks, MTU, faults, daemon restarts, resume, the tray,
/// containers, doctor) is about the laptop and runs once, on the default lab. CI has 45 minutes.
fn e2e_tests(lab: Lab, env: &[(&str, &str)]) -> Result<()> {
    let topology = ["connect", "handshakes", "hostile_routes"];
    let laptop = [
        "dns",
        "dns_hijack",
        "dns_resolved",
        "dns_neighbours",
        "daemon_restart",
        "faults",
        "lan_overlap",
        "mtu",
        "tray",
        // Freezes the laptop past a WireGuard session (190 s).
        "resume",
        "containers",
        "doctor",
        // Preshared keys: the laptop's Peer and the nodes' config.
        "psk",
        // A second connection to the same cluster refused as overlapping (seconds).
        "connections",
        // A laptop server reached from pods by a Service name; the laptop closed otherwise.
        "expose",
    ];
    let tests: Vec<&str> = match lab {
        Lab::Default => topology.iter().chain(laptop.iter()).copied().collect(),
        Lab::Variant(_) => topology.to_vec(),
    };
    e2e(lab.name(), &tests, env)
}

/// Which lab the suites run on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lab {
    /// Four locations, one node each.
    Default,
    /// Two nodes per location (its name).
    Variant(&'static str),
}

impl Lab {
    fn name(self) -> &'static str {
        match self {
            Lab::Default => "default lab",
            Lab::Variant(name) => name,
        }
    }
}

/// Both suites, on one lab.
fn lab_and_e2e_tests(lab: Lab, env: &[(&str, &str)]) -> Result<()> {
    timed(&format!("{}: lab tests", lab.name()), || lab_tests(lab))?;
    e2e_tests(lab, env)
}

/// The lab test suites: `crates/lab/tests/lab.rs` and, on the default lab, `api_services.rs`
/// (Services created through the API reach a Kilo Peer; on the variant lab the `expose` e2e file
/// covers it through non-leader nodes), ignored by plain `cargo test` because they need the lab.
fn lab_tests(lab: Lab) -> Result<()> {
    let suites: &[&str] = match lab {
        Lab::Default => &["lab", "api_services"],
        Lab::Variant(_) => &["lab"],
    };
    for suite in suites {
        sh::cargo(&[
            "test",
            "-p",
            "kubewire-lab",
            "--test",
            suite,
            "--",
            "--ignored",
            "--test-threads=1",
        ])?;
    }
    Ok(())
}

/// The two-cluster suite (`crates/lab/tests/clusters.rs`) on a lab brought up with `--clusters 2`.
fn clusters_tests() -> Result<()> {
    sh::cargo(&[
        "test",
        "-p",
        "kubewire-lab",
        "--test",
        "clusters",
        "--",
        "--ignored",
        "--test-threads=1",
    ])
}

/// Brings a lab up with `up_args`, runs `body`, and always takes the lab down again.
fn with_lab(up_args: &[&str], body: impl FnOnce() -> Result<()>) -> Result<()> {
    let mut args = vec!["up"];
    args.extend_from_slice(up_args);
    let result = timed(&format!("lab up {}", up_args.join(" ")), || sh::lab(&args)).and_then(|()| body());
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
    let result = all_steps();
    eprint!("{}", crate::timings::report());
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(()) => eprintln!("xtask test: all passed in {secs:.0} s"),
        Err(e) => eprintln!("xtask test: FAILED after {secs:.0} s: {e:#}"),
    }
    result
}

fn all_steps() -> Result<()> {
    timed("setup", setup::run)?;
    timed("fmt", || sh::cargo(&["fmt", "--all", "--check"]))?;
    // The tray app's crate embeds ui/dist: build the front end before anything compiles it.
    timed("ui build", tray::build_ui)?;
    timed("clippy", || {
        sh::cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
    })?;
    timed("clippy windows", cross::check_windows)?;
    timed("ui tests", tray::ui_tests)?;
    // Tests that skip where their tools are missing fail instead: CI never passes by skipping.
    timed("cargo test --workspace", || {
        sh::cargo_env(&["test", "--workspace"], &[("KUBEWIRE_TESTS_STRICT", "1")])
    })?;
    // Every fuzz target (the Plan, the IPC frame decoder, ...) for a few seconds from its seeds,
    // built without optimizations: the optimized build took ~9 of its ~10 minutes; longer, optimized
    // runs are `cargo xtask fuzz`.
    timed("fuzz", || crate::fuzz::run(15, crate::fuzz::Build::Dev))?;
    // The e2e tests run the binaries (kubewired, kubewire) from target/debug.
    timed("build bins", || sh::cargo(&["build", "--workspace", "--bins"]))?;
    // The .deb and .rpm of that debug build: contents, scripts, unit, install/remove/purge in a
    // fresh Debian root.
    timed("dist test", || dist_test::build_and_test(dist::Profile::Debug))?;
    // A lab left by an interrupted run is cleaned up by `up` itself.
    lab_down()?;
    timed("lab lifecycle", || {
        sh::cargo(&[
            "test",
            "-p",
            "kubewire-lab",
            "--test",
            "lifecycle",
            "--",
            "--ignored",
        ])
    })?;
    // A second cluster `b` with a's ranges beside `a` (issue 14), on a lab of its own: seconds, and
    // the other suites' labs stay exactly as they were.
    with_lab(&["--clusters", "2"], || {
        timed("two clusters: lab tests", clusters_tests)
    })?;
    // The README's first command, on a lab of its own: the demo checks every step it shows, and
    // `lab down` must then stop it and leave nothing behind (also when the demo fails: a lab left up
    // would hold the API port and the namespaces for the next run).
    timed("demo", || {
        let demo = demo::run(demo::Build::AlreadyBuilt, false);
        let down = lab_down();
        demo.and(down)
    })?;
    with_lab(&[], || {
        lab_and_e2e_tests(Lab::Default, &[])?;
        timed("tray app e2e (WebDriver)", tray::e2e)
    })?;
    // Segments with leaders and members on a location LAN, with kubewired bounded to exactly the
    // systemd unit's capabilities (`setpriv`), and the DNS suite too (binding port 53, resolv.conf):
    // a capability the unit lacks fails here. (`--granularity full` on the default lab's one node
    // per location gives the same segments as the default lab, so it has no run of its own: CI has
    // 45 minutes. `cargo xtask lab up --granularity full` still brings one up.)
    let unit_caps = dist_test::unit_capabilities_bin_dir()?;
    let unit_caps = unit_caps.to_string_lossy();
    with_lab(&["--nodes-per-location", "2"], || {
        let env = [("KUBEWIRE_BIN_DIR", &*unit_caps)];
        lab_and_e2e_tests(Lab::Variant("2 nodes per location, unit capabilities"), &env)?;
        // The split DNS and the inbound filter (iptables) with only the unit's capabilities.
        e2e(
            "2 nodes per location, unit capabilities",
            &["dns", "expose"],
            &env,
        )
    })
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
