//! Helpers for tests that run against a running lab (`cargo xtask lab up`): reading `lab.json`,
//! running commands in the lab's namespaces, and throwaway namespaces on the underlay that clean up
//! after themselves, also when a test fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kubewire_netns_testing::Netns;

use crate::control::{self, Request, Response};
use crate::desc::LabDescription;
use crate::net::{cmd, ns};

/// The lab directory: `$KUBEWIRE_LAB_DIR`, else the workspace's `target/lab`.
pub fn lab_dir() -> PathBuf {
    match std::env::var_os("KUBEWIRE_LAB_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/lab"),
    }
}

/// The running lab's description, or a message saying how to start it.
pub fn lab() -> Result<LabDescription, String> {
    let path = lab_dir().join("lab.json");
    LabDescription::load(&path).map_err(|e| {
        format!(
            "no lab at {} ({e}): run `cargo xtask lab up` first",
            path.display()
        )
    })
}

/// Sends a request to the lab controller.
pub fn control(request: &Request) -> Result<Response, String> {
    control::send(&lab_dir().join("control.sock"), request, Duration::from_secs(90))
        .map_err(|e| e.to_string())
}

/// Runs `program args…` inside namespace `netns`, returning stdout, or stderr as the error.
pub fn exec(netns: &str, program: &str, args: &[&str]) -> Result<String, String> {
    cmd::exec_in(netns, program, args).map_err(|e| e.to_string())
}

/// `curl` from `netns` with a total timeout; the body on success.
pub fn http_get(netns: &str, url: &str, timeout: Duration) -> Result<String, String> {
    let secs = format!("{:.1}", timeout.as_secs_f64());
    exec(
        netns,
        "curl",
        &[
            "-sS",
            "--fail",
            "--connect-timeout",
            &secs,
            "--max-time",
            &secs,
            url,
        ],
    )
    .map(|b| b.trim().to_string())
}

/// Retries `http_get` until it succeeds or `within` has passed.
pub fn http_get_within(netns: &str, url: &str, within: Duration) -> Result<String, String> {
    let deadline = Instant::now() + within;
    loop {
        match http_get(netns, url, Duration::from_secs(2)) {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Polls `check` until it holds (`true`) or `within` has passed (`false`): the harness's one rule.
pub use kubewire_netns_testing::wait_for as wait_until;

/// Undoes a test's changes to the lab (by controller requests) even when the test fails.
#[derive(Debug)]
pub struct Restore(pub Vec<Request>);

impl Drop for Restore {
    fn drop(&mut self) {
        for request in &self.0 {
            let _ = control(request);
        }
    }
}

/// One ICMP echo from `netns` to `ip`, waiting at most a second.
pub fn ping(netns: &str, ip: &str) -> bool {
    exec(netns, "ping", &["-c", "1", "-W", "1", ip]).is_ok()
}

/// A namespace for one test, plugged into the underlay, deleted (with its processes) on drop
/// (the harness of `kubewire-netns-testing`).
#[derive(Debug)]
pub struct TestNs {
    pub name: String,
    netns: Netns,
}

impl TestNs {
    /// Creates `kw-t-<suffix>` on the underlay at `underlay_ip` (use 192.0.2.200-253).
    pub fn create(suffix: &str, underlay_ip: std::net::Ipv4Addr) -> Result<Self, String> {
        let netns = Netns::create(&format!("kw-t-{suffix}"))?;
        let name = netns.name().to_owned();
        ns::configure(&name, false).map_err(|e| e.to_string())?;
        ns::attach_underlay(&name, &format!("u-t-{suffix}"), underlay_ip).map_err(|e| e.to_string())?;
        Ok(TestNs { name, netns })
    }

    /// Starts a process in the namespace; it is killed when the namespace is dropped.
    pub fn spawn(&mut self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
        let mut all = vec![program];
        all.extend_from_slice(args);
        self.netns
            .spawn(&all, env, Stdio::null(), Stdio::null())
            .map(drop)
    }

    /// A userspace WireGuard interface `kwt-<suffix>` (wireguard-go) in this namespace, up, with `address`.
    pub fn wireguard(&mut self, suffix: &str, private_key: &str, address: &str) -> Result<String, String> {
        let ifname = format!("kwt-{suffix}");
        let socket = crate::net::node::wg_socket(&ifname);
        let _ = std::fs::remove_file(&socket);
        self.spawn("wireguard-go", &[&ifname], &[("WG_PROCESS_FOREGROUND", "1")])?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if Instant::now() > deadline {
                return Err(format!("wireguard-go did not create {}", socket.display()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let key_file = std::env::temp_dir().join(format!("{ifname}.key"));
        std::fs::write(&key_file, private_key).map_err(|e| e.to_string())?;
        let set = exec(
            &self.name,
            "wg",
            &["set", &ifname, "private-key", &key_file.to_string_lossy()],
        );
        let _ = std::fs::remove_file(&key_file);
        set?;
        exec(&self.name, "ip", &["addr", "add", address, "dev", &ifname])?;
        exec(&self.name, "ip", &["link", "set", &ifname, "mtu", "1420", "up"])?;
        Ok(ifname)
    }
}

/// The AllowedIPs of the segment led by `leader`, as Kilo computes them for the lab: the ready
/// members' pod ranges and internal IPs, and the leader's Kilo address.
pub fn segment_ips(lab: &crate::desc::LabDescription, leader: &crate::desc::NodeDescription) -> Vec<String> {
    let mut ips = Vec::new();
    let mut members: Vec<&crate::desc::NodeDescription> = lab
        .nodes
        .iter()
        .filter(|n| {
            n.ready
                && if lab.granularity == "full" {
                    n.name == leader.name
                } else {
                    n.location == leader.location
                }
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    for m in members {
        ips.push(m.pod_cidr.clone());
        ips.push(format!("{}/32", m.internal_ip));
    }
    if let Some(wg) = leader.wireguard_ip.as_deref() {
        ips.push(format!("{}/32", wg.split('/').next().unwrap_or(wg)));
    }
    ips
}

/// A WireGuard peer in its own namespace `kw-t-<suffix>` at `underlay`, with Kilo address
/// `address`, that joins the mesh as a Kilo Peer would: every leader as a peer with its segment's
/// AllowedIPs (and the service range through the first one when `services`); its public key.
pub fn join_as_peer(
    lab: &LabDescription,
    suffix: &str,
    underlay: std::net::Ipv4Addr,
    address: &str,
    services: bool,
) -> Result<(TestNs, String), String> {
    let (private, public) = crate::keys::generate();
    let mut t = TestNs::create(suffix, underlay)?;
    let ifname = t.wireguard(suffix, &private, &format!("{address}/32"))?;
    for (i, leader) in lab.nodes.iter().filter(|n| n.leader).enumerate() {
        let mut ips = segment_ips(lab, leader);
        if services && i == 0 {
            ips.push(lab.service_cidr.clone());
        }
        exec(
            &t.name,
            "wg",
            &[
                "set",
                &ifname,
                "peer",
                &leader.public_key,
                "endpoint",
                &leader.endpoint,
                "persistent-keepalive",
                "5",
                "allowed-ips",
                &ips.join(","),
            ],
        )?;
        for ip in &ips {
            exec(&t.name, "ip", &["route", "replace", ip, "dev", &ifname])?;
        }
    }
    Ok((t, public))
}

/// `kubectl` against the lab's API server (its kubeconfig, a 10 s request timeout): stdout, or
/// stderr as the error.
pub fn kubectl(lab: &LabDescription, args: &[&str]) -> Result<String, String> {
    let kc = lab.kubeconfig.to_string_lossy().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str(), "--request-timeout=10s"];
    all.extend_from_slice(args);
    let out = std::process::Command::new("kubectl")
        .args(&all)
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
