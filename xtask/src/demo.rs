//! `cargo xtask demo`: kubewire's main job on the built-in demo cluster (the lab), as a user on a
//! laptop would see it: `kubewired` in the laptop's namespace, `kubewire connect`, every pod and the
//! web service by name from the laptop, the status and topology, then one live change followed.
//! Every step is checked; a failed check fails the demo (CI runs it). The demo stays connected;
//! `cargo xtask lab down` (or `cargo xtask demo --stop`) stops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::sh;

/// The new cloud that joins during the demo.
const JOINING_NODE: &str = "ovh";
/// How long the live change may take before the demo calls it failed (the measured figure is
/// printed; a second is what the product aims at, this bound is for a loaded CI machine).
const FOLLOW_LIMIT: Duration = Duration::from_secs(15);

/// The demo's files: the daemon's socket, state and log, the user's HOME, the topology.
pub fn dir() -> PathBuf {
    crate::root().join("target/demo")
}

fn socket() -> PathBuf {
    dir().join("kubewired.sock")
}

fn pid_file(name: &str) -> PathBuf {
    dir().join(format!("{name}.pid"))
}

fn step(n: u32, total: u32, what: &str) {
    eprintln!("\n\x1b[1m==> [{n}/{total}] {what}\x1b[0m");
}

/// The running lab's description (`target/lab/lab.json`).
fn lab() -> Result<Value> {
    let path = crate::lab_dir().join("lab.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn laptop_netns(lab: &Value) -> String {
    field(lab, "laptop_netns").to_owned()
}

/// The user side's environment: a HOME of its own under target/demo, the lab's kubeconfig.
fn user_env(lab: &Value) -> Vec<(&'static str, PathBuf)> {
    let home = dir().join("home");
    vec![
        ("HOME", home.clone()),
        ("XDG_CONFIG_HOME", home.join(".config")),
        ("XDG_STATE_HOME", home.join(".local/state")),
        ("XDG_DATA_HOME", home.join(".local/share")),
        ("XDG_RUNTIME_DIR", home.join("run")),
        ("KUBEWIRE_STATE_DIR", home.join(".local/state/kubewire")),
        ("KUBEWIRE_SOCKET", socket()),
        ("KUBECONFIG", PathBuf::from(field(lab, "kubeconfig"))),
    ]
}

fn bin(name: &str) -> PathBuf {
    crate::root().join("target/debug").join(name)
}

/// A command run inside the laptop's namespace.
fn in_laptop(lab: &Value, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &laptop_netns(lab)])
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// `kubewire ARGS…` as the laptop's user, output shown as it comes.
fn kubewire_shown(lab: &Value, args: &[&str]) -> Result<()> {
    eprintln!("$ kubewire {}", args.join(" "));
    let mut cmd = in_laptop(lab, &bin("kubewire"), args);
    cmd.envs(user_env(lab));
    let status = cmd.status().context("starting kubewire")?;
    if !status.success() {
        bail!("`kubewire {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// `kubewire ARGS…` as the laptop's user, output captured.
fn kubewire_output(lab: &Value, args: &[&str]) -> Result<Output> {
    let mut cmd = in_laptop(lab, &bin("kubewire"), args);
    cmd.envs(user_env(lab));
    cmd.output().context("starting kubewire")
}

/// A program in the laptop's namespace; its stdout when it succeeds.
fn laptop_exec(lab: &Value, program: &str, args: &[&str]) -> Result<String> {
    let out = in_laptop(lab, Path::new(program), args)
        .output()
        .with_context(|| format!("starting {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` in the laptop failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn curl(lab: &Value, url: &str, timeout_s: &str) -> Result<String> {
    laptop_exec(lab, "curl", &["-sS", "--max-time", timeout_s, url])
}

/// Whether the demo builds what it runs, or uses what `cargo xtask test` built already (a build of
/// these three packages alone unifies dependency features differently: it would build it all again).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Yes,
    AlreadyBuilt,
}

/// `cargo xtask demo [--tray]`.
pub fn run(build: Build, tray: bool) -> Result<()> {
    let started = Instant::now();
    crate::setup::run()?;
    let total = 8;
    step(1, total, "build kubewire (kubewired, kubewire) and the lab");
    if build == Build::Yes {
        sh::cargo(&[
            "build",
            "-p",
            "kubewire-lab",
            "-p",
            "kubewire-daemon",
            "-p",
            "kubewire-cli",
            "--bins",
        ])?;
    }
    // A demo or lab left from an earlier run goes first.
    stop()?;
    step(
        2,
        total,
        "bring up the demo cluster: k3s + Kilo across four clouds, in network namespaces",
    );
    sh::lab(&["up"])?;
    let lab = lab()?;
    let kubeconfig = field(&lab, "kubeconfig").to_owned();
    sh::run(
        "kubectl",
        &["--kubeconfig", &kubeconfig, "get", "nodes", "-o", "wide"],
    )?;
    eprintln!(
        "\nWithout kubewire the laptop ({}) cannot reach the cluster:",
        laptop_netns(&lab)
    );
    let first_pod = lab["nodes"][0]["pod_ip"]
        .as_str()
        .unwrap_or("10.42.0.10")
        .to_owned();
    if curl(&lab, &format!("http://{first_pod}/"), "2").is_ok() {
        bail!("the laptop reached a pod without kubewire: the lab is broken");
    }
    eprintln!("  http://{first_pod}/ -> no answer (as it should be)");

    step(
        3,
        total,
        "start the daemon kubewired on the laptop (root; the CLI runs as the user)",
    );
    start_daemon(&lab)?;

    step(
        4,
        total,
        "kubewire connect: kubeconfig, API, Kilo, key, Peer, plan, apply",
    );
    write_wrapper(&lab)?;
    kubewire_shown(&lab, &["connect", "--detach"])?;

    step(
        5,
        total,
        "from the laptop: every pod at its pod IP, the web service by name",
    );
    check_pods(&lab)?;
    check_names(&lab)?;

    step(6, total, "kubewire status and the topology");
    kubewire_shown(&lab, &["status"])?;
    topology(&lab)?;

    step(
        7,
        total,
        &format!("a live change: a new cloud ({JOINING_NODE}) joins the cluster"),
    );
    live_change()?;

    step(8, total, "kubewire status after the change");
    kubewire_shown(&lab, &["status"])?;
    if tray {
        start_tray(&lab)?;
    }
    outro(&lab, started);
    Ok(())
}

/// Starts `kubewired` in the laptop's namespace, in its own process group (it outlives this
/// command), with its socket, state and log under target/demo.
fn start_daemon(lab: &Value) -> Result<()> {
    let dir = dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(socket());
    let log_path = dir.join("kubewired.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let socket = socket();
    let state = dir.join("state");
    let mut cmd = in_laptop(
        lab,
        &bin("kubewired"),
        &[
            "--socket",
            &socket.to_string_lossy(),
            "--state-dir",
            &state.to_string_lossy(),
        ],
    );
    cmd.env("RUST_LOG", "info")
        .stdout(log.try_clone().context("the daemon's log")?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    let child = cmd.spawn().context("starting kubewired")?;
    std::fs::write(pid_file("kubewired"), child.id().to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("kubewired did not open its socket within 10 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "kubewired runs (pid {}), socket {}, log {}",
        child.id(),
        socket.display(),
        log_path.display()
    );
    Ok(())
}

/// `target/demo/kubewire`: the CLI as the demo's user, in the laptop's namespace, on the demo's
/// daemon; what the outro tells the user to run.
fn write_wrapper(lab: &Value) -> Result<()> {
    let mut script =
        String::from("#!/bin/sh\n# kubewire as the demo laptop's user (written by `cargo xtask demo`).\n");
    for (k, v) in user_env(lab) {
        script.push_str(&format!("export {k}='{}'\n", v.display()));
    }
    script.push_str(&format!(
        "exec ip netns exec '{}' '{}' \"$@\"\n",
        laptop_netns(lab),
        bin("kubewire").display()
    ));
    let path = dir().join("kubewire");
    std::fs::write(&path, script)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// Every pod answers at its pod IP from the laptop, with its own name.
fn check_pods(lab: &Value) -> Result<()> {
    let nodes = lab["nodes"].as_array().cloned().unwrap_or_default();
    for node in nodes.iter().filter(|n| n["ready"].as_bool().unwrap_or(false)) {
        let (ip, pod, name) = (
            field(node, "pod_ip"),
            field(node, "pod_name"),
            field(node, "name"),
        );
        let t = Instant::now();
        let answer = curl(lab, &format!("http://{ip}/"), "5")?;
        if !answer.contains(pod) {
            bail!("http://{ip}/ answered {answer:?}, not the pod {pod}");
        }
        eprintln!(
            "  http://{ip}/  ->  {answer}   ({name}, {}, {:.0} ms)",
            field(node, "location"),
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// The web service's names resolve through the laptop's own resolver and answer over the tunnel.
fn check_names(lab: &Value) -> Result<()> {
    let services = lab["services"].as_array().cloned().unwrap_or_default();
    let Some(web) = services
        .iter()
        .find(|s| field(s, "name") == "web" && field(s, "namespace") == "default")
    else {
        bail!("the lab has no default/web service");
    };
    let cluster_ip = field(web, "cluster_ip");
    let pods: Vec<String> = web["pods"]
        .as_array()
        .map(|p| p.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let zone = field(lab, "cluster_domain");
    for name in [format!("web.default.svc.{zone}"), "web.default".to_owned()] {
        let line = laptop_exec(lab, "getent", &["hosts", &name])
            .with_context(|| format!("{name} does not resolve through the laptop's system resolver"))?;
        if !line.split_whitespace().any(|w| w == cluster_ip) {
            bail!("{name} resolved to {line:?}, not the service's {cluster_ip}");
        }
        eprintln!("  getent hosts {name}  ->  {line}");
    }
    let answer = curl(lab, "http://web.default/", "5")?;
    if !pods.iter().any(|p| answer.contains(p.as_str())) {
        bail!("http://web.default/ answered {answer:?}, not one of the web pods {pods:?}");
    }
    eprintln!("  curl http://web.default/  ->  {answer}   (a pod behind the service)");
    Ok(())
}

/// `kubewire graph`, rendered to SVG when Graphviz is here.
fn topology(lab: &Value) -> Result<()> {
    let out = kubewire_output(lab, &["graph"])?;
    if !out.status.success() {
        bail!("kubewire graph failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dot = dir().join("topology.dot");
    std::fs::write(&dot, &out.stdout)?;
    if sh::have("dot") {
        let svg = dir().join("topology.svg");
        let ok = Command::new("dot")
            .arg("-Tsvg")
            .arg(&dot)
            .arg("-o")
            .arg(&svg)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            eprintln!("topology: {} (kubewire graph | dot -Tsvg)", svg.display());
            return Ok(());
        }
    }
    eprintln!(
        "topology: {} (Graphviz's `dot` is not installed: `apt-get install graphviz` renders it)",
        dot.display()
    );
    Ok(())
}

/// A node joins through the lab; the laptop's tunnel follows: the new pod answers from the laptop.
fn live_change() -> Result<()> {
    let t = Instant::now();
    sh::lab(&["node", "add", JOINING_NODE, "--location", JOINING_NODE])?;
    let joined = t.elapsed();
    let lab = lab()?;
    let nodes = lab["nodes"].as_array().cloned().unwrap_or_default();
    let Some(node) = nodes.iter().find(|n| field(n, "name") == JOINING_NODE) else {
        bail!("the lab does not list the new node {JOINING_NODE}");
    };
    let (ip, pod) = (
        field(node, "pod_ip").to_owned(),
        field(node, "pod_name").to_owned(),
    );
    eprintln!(
        "  {JOINING_NODE} joined in {:.0} ms (its pod {pod} at {ip}); waiting for the laptop's tunnel to follow…",
        joined.as_secs_f64() * 1000.0
    );
    let since = Instant::now();
    let url = format!("http://{ip}/");
    loop {
        if let Ok(answer) = curl(&lab, &url, "1")
            && answer.contains(&pod)
        {
            eprintln!(
                "  http://{ip}/  ->  {answer}   (answered {:.0} ms after the node joined)",
                since.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(());
        }
        if since.elapsed() > FOLLOW_LIMIT {
            bail!(
                "the new pod {pod} ({ip}) did not answer from the laptop within {} s: kubewire did not follow; see {}",
                FOLLOW_LIMIT.as_secs(),
                dir().join("home/.local/state/kubewire").display()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `--tray`: the tray app and its window against the demo's daemon, as the laptop's user.
fn start_tray(lab: &Value) -> Result<()> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "--tray needs a desktop session (DISPLAY or WAYLAND_DISPLAY is unset); on a headless machine: \
             `xvfb-run -a cargo xtask demo --tray`"
        );
    }
    crate::tray::build_ui()?;
    sh::cargo(&["build", "-p", "kubewire-tray", "-p", "kubewire-window"])?;
    for name in ["kubewire-tray", "kubewire-window"] {
        let log_path = dir().join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = in_laptop(lab, &bin(name), &[]);
        cmd.envs(user_env(lab)).stdout(log.try_clone()?).stderr(log);
        for key in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "XAUTHORITY",
        ] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        std::fs::write(pid_file(name), child.id().to_string())?;
        eprintln!("{name} runs (pid {}), log {}", child.id(), log_path.display());
        // The window attaches to the tray's link: give the tray a moment to open it.
        std::thread::sleep(Duration::from_millis(1500));
    }
    Ok(())
}

fn outro(lab: &Value, started: Instant) {
    let netns = laptop_netns(lab);
    let kw = dir().join("kubewire");
    eprintln!(
        "\n\x1b[1mThe demo is up and connected\x1b[0m ({:.0} s). The laptop is the namespace {netns}; kubewire \
         follows the cluster in the background.\n\
         Explore:\n\
         \x20 {kw} status                       # as the laptop's user (also: showconf, graph, doctor)\n\
         \x20 ip netns exec {netns} curl http://web.default/\n\
         \x20 ip netns exec {netns} getent hosts web.default.svc.cluster.local\n\
         \x20 ip netns exec {netns} bash                   # a shell on the laptop\n\
         \x20 cargo xtask lab node add gcp2 --location gcp # more live changes: remove, set-endpoint, stale...\n\
         \x20 xvfb-run -a cargo xtask demo --tray          # or in a desktop session: the tray app and its window\n\
         Stop: cargo xtask lab down   (disconnects, stops kubewired, removes the lab; nothing is left)",
        started.elapsed().as_secs_f64(),
        kw = kw.display()
    );
}

/// Whether `pid` runs the program `name` (the kernel keeps 15 bytes of it), so that a reused PID is
/// never signalled.
fn runs(pid: u32, name: &str) -> bool {
    let short = name.get(..15).unwrap_or(name);
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == short)
}

/// Stops what the demo started: disconnects (interface, routes, DNS, the laptop's Peer), then the
/// tray, window and daemon by their recorded PIDs. Nothing to do when no demo runs.
pub fn stop() -> Result<()> {
    let daemon = read_pid("kubewired");
    if let Some(pid) = daemon
        && runs(pid, "kubewired")
        && socket().exists()
        && let Ok(lab) = lab()
    {
        eprintln!("stopping the demo: kubewire disconnect");
        match kubewire_output(&lab, &["disconnect"]) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "kubewire disconnect failed (stopping the daemon undoes it): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("kubewire disconnect: {e:#}"),
        }
    }
    for name in ["kubewire-window", "kubewire-tray", "kubewired"] {
        let Some(pid) = read_pid(name) else { continue };
        if runs(pid, name) {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while runs(pid, name) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if runs(pid, name) {
                eprintln!("{name} (pid {pid}) did not stop on SIGTERM; killing it");
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            } else {
                eprintln!("stopped the demo's {name} (pid {pid})");
            }
        }
        let _ = std::fs::remove_file(pid_file(name));
    }
    let _ = std::fs::remove_file(socket());
    Ok(())
}

fn read_pid(name: &str) -> Option<u32> {
    std::fs::read_to_string(pid_file(name))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}
