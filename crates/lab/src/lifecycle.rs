//! `up`, `down` and `status`: starting the lab controller in the background, waiting for it with
//! progress, stopping it, and proving that nothing is left behind.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubewire_lab::control::{self, Request};
use kubewire_lab::desc::LabDescription;
use kubewire_lab::model::LabSpec;
use kubewire_lab::net::{cleanup, procs};
use std::os::unix::process::CommandExt;

const TOOLS: [&str; 6] = [
    "ip",
    "wg",
    "wireguard-go",
    "iptables-restore",
    "unbound",
    "sysctl",
];
const UP_TIMEOUT: Duration = Duration::from_secs(120);

fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the lab builds network namespaces and needs root: run it as root (e.g. `sudo -E cargo xtask lab up`)"
        );
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn alive(dir: &Path) -> Option<LabDescription> {
    control::send(
        &dir.join("control.sock"),
        &Request::Status,
        Duration::from_secs(5),
    )
    .ok()
    .and_then(|r| r.lab)
}

pub fn up(dir: &Path, spec: &LabSpec) -> Result<()> {
    require_root()?;
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        bail!(
            "missing tools: {} (run `cargo xtask setup` to install them)",
            missing.join(", ")
        );
    }
    if let Some(lab) = alive(dir) {
        let size = if lab.clusters.is_empty() {
            format!("{} nodes", lab.nodes.len())
        } else {
            let nodes: usize = lab.clusters.iter().map(|c| c.nodes.len()).sum();
            format!("{nodes} nodes in {} clusters", lab.clusters.len())
        };
        println!("the lab is already up ({size}); `kubewire-lab down` first to rebuild it");
        return Ok(());
    }
    let started = Instant::now();
    let left = cleanup::leftovers(dir);
    if !left.is_empty() {
        println!("cleaning up after an earlier lab: {}", left.join(", "));
        cleanup::sweep(dir);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(dir.join("lab.json"));
    let log_path = dir.join("lab.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let exe = std::env::current_exe().context("finding kubewire-lab's own path")?;
    let locations = spec.locations.join(",");
    let npl = spec.nodes_per_location.to_string();
    let clusters = spec.clusters.to_string();
    let mut child = Command::new(&exe)
        .args([
            "--dir",
            &dir.to_string_lossy(),
            "run",
            "--granularity",
            spec.granularity.as_str(),
        ])
        .args(["--nodes-per-location", &npl, "--locations", &locations])
        .args(["--clusters", &clusters])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting the lab controller")?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    std::fs::write(dir.join("controller.pid"), pid.to_string())?;
    println!("lab controller started (pid {pid}), log: {}", log_path.display());

    let mut reader = BufReader::new(std::fs::File::open(&log_path)?);
    let mut offset = 0u64;
    loop {
        offset = echo_new_lines(&mut reader, offset);
        if let Some(lab) = alive(dir) {
            print_summary(&lab);
            println!("lab up in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            echo_new_lines(&mut reader, offset);
            cleanup::sweep(dir);
            bail!(
                "the lab controller exited ({status}) before the lab was up; see {}",
                log_path.display()
            );
        }
        if started.elapsed() > UP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            cleanup::sweep(dir);
            bail!(
                "the lab was not up after {} s; see {}",
                UP_TIMEOUT.as_secs(),
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn echo_new_lines(reader: &mut BufReader<std::fs::File>, offset: u64) -> u64 {
    if reader.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut pos = offset;
    let mut line = String::new();
    while let Ok(n) = reader.read_line(&mut line) {
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        pos += n as u64;
        print!("  | {line}");
        line.clear();
    }
    pos
}

fn print_summary(lab: &LabDescription) {
    if lab.clusters.is_empty() {
        print_cluster(lab);
    }
    for c in &lab.clusters {
        println!("\n== cluster with context {} ==", c.context);
        print_cluster(c);
    }
    println!("kubeconfig:   {}", lab.kubeconfig.display());
    println!(
        "laptop:       ip netns exec {} <command>   ({})",
        lab.laptop_netns, lab.laptop_ip
    );
    if lab.clusters.is_empty() {
        println!(
            "try:          kubectl --kubeconfig {} get nodes -o wide",
            lab.kubeconfig.display()
        );
    }
    for c in &lab.clusters {
        println!(
            "try:          kubectl --kubeconfig {} --context {} get nodes -o wide",
            lab.kubeconfig.display(),
            c.context
        );
    }
}

/// One cluster's nodes, services and API server.
fn print_cluster(lab: &LabDescription) {
    println!(
        "\n{:<10} {:<8} {:<20} {:<15} {:<12} {:<7} READY",
        "NODE", "LOCATION", "ENDPOINT", "POD CIDR", "POD", "LEADER"
    );
    for n in &lab.nodes {
        println!(
            "{:<10} {:<8} {:<20} {:<15} {:<12} {:<7} {}",
            n.name,
            n.location,
            n.endpoint,
            n.pod_cidr,
            n.pod_ip,
            if n.leader { "yes" } else { "" },
            if n.ready { "yes" } else { "no" }
        );
    }
    println!("\nservices:");
    for s in &lab.services {
        let ip = s.cluster_ip.as_deref().unwrap_or("None (headless)");
        println!(
            "  {}/{} {}:{} -> {}",
            s.namespace,
            s.name,
            ip,
            s.port,
            s.pods.join(", ")
        );
    }
    println!("\nAPI server:   {}", lab.api_server);
}

pub fn down(dir: &Path) -> Result<()> {
    require_root()?;
    let started = Instant::now();
    let pid: Option<i32> = std::fs::read_to_string(dir.join("controller.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    match control::send(
        &dir.join("control.sock"),
        &Request::Shutdown,
        Duration::from_secs(60),
    ) {
        Ok(_) => println!("asked the lab controller to tear the lab down"),
        Err(e) => println!("{e}; removing what is left"),
    }
    if let Some(pid) = pid {
        let deadline = Instant::now() + Duration::from_secs(30);
        while procs::runs(pid, "kubewire-lab") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if procs::runs(pid, "kubewire-lab") {
            println!("the controller (pid {pid}) did not exit; killing it");
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
    cleanup::sweep(dir);
    let _ = std::fs::remove_file(dir.join("controller.pid"));
    let _ = std::fs::remove_file(dir.join("lab.json"));
    let left = cleanup::leftovers(dir);
    if !left.is_empty() {
        bail!("the lab left these behind: {}", left.join(", "));
    }
    println!(
        "lab down in {:.1} s; no namespace, interface, socket or process left",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn status(dir: &Path, json: bool) -> Result<()> {
    match alive(dir) {
        Some(lab) if json => println!("{}", serde_json::to_string_pretty(&lab)?),
        Some(lab) => print_summary(&lab),
        None => {
            let left = cleanup::leftovers(dir);
            if left.is_empty() {
                println!("the lab is not running; nothing of it is left");
            } else {
                println!("the lab is not running, but these are left: {}", left.join(", "));
                println!("run `kubewire-lab down` to remove them");
            }
        }
    }
    Ok(())
}
