//! Network namespaces and the underlay: the "internet" bridge every node and the laptop share, and
//! the per-location LANs. Nothing here touches the host's own namespace: the host may itself sit on
//! 192.0.2.0/24.

use std::net::Ipv4Addr;

use super::cmd::{CmdError, exec_in, ip, ip_in};
use crate::clusters::ClusterId;
use crate::model::UNDERLAY;

/// The namespace holding the underlay bridge `br0` and the location LAN bridges.
pub const UNDERLAY_NS: &str = "kw-net";
/// The laptop's namespace.
pub const LAPTOP_NS: &str = "kw-laptop";
/// The "ISP resolver"'s namespace (on the underlay).
pub const ISP_NS: &str = "kw-isp";
/// Every lab namespace starts with this.
pub const PREFIX: &str = "kw-";

/// Creates namespace `name` with `lo` up and IPv4 forwarding as asked.
pub fn create(name: &str, forwarding: bool) -> Result<(), CmdError> {
    ip(&["netns", "add", name])?;
    configure(name, forwarding)
}

/// `lo` up, IPv4 forwarding as asked, and secondary addresses promoted, in namespace `name`.
pub fn configure(name: &str, forwarding: bool) -> Result<(), CmdError> {
    ip_in(name, &["link", "set", "lo", "up"])?;
    let value = if forwarding {
        "net.ipv4.ip_forward=1"
    } else {
        "net.ipv4.ip_forward=0"
    };
    // Removing an interface's primary address keeps its secondaries (Kilo IPs and endpoints move).
    let promote = [
        "net.ipv4.conf.all.promote_secondaries=1",
        "net.ipv4.conf.default.promote_secondaries=1",
    ];
    exec_in(name, "sysctl", &["-qw", value, promote[0], promote[1]])?;
    Ok(())
}

/// Gives namespace `ns` its own `/etc/resolv.conf` (`/etc/netns/<ns>/resolv.conf`, which
/// `ip netns exec` bind-mounts over `/etc/resolv.conf`): the host's file is never seen or touched.
pub fn write_resolv_conf(ns: &str, nameserver: Ipv4Addr) -> Result<(), CmdError> {
    let dir = std::path::Path::new("/etc/netns").join(ns);
    let io = |source| CmdError::Spawn {
        cmd: format!("writing {}/resolv.conf", dir.display()),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let text = format!("# the lab's ISP resolver (kubewire-lab)\nnameserver {nameserver}\n");
    std::fs::write(dir.join("resolv.conf"), text).map_err(io)
}

/// Gives pod namespace `ns` the `/etc/resolv.conf` kubelet gives a pod of namespace `default`
/// (`ClusterFirst`): the cluster DNS and the search list, so `curl http://<svc>.<ns>.svc.<domain>/`
/// and short names work inside a pod as in a real cluster.
pub fn write_pod_resolv_conf(ns: &str, cluster_dns: Ipv4Addr, domain: &str) -> Result<(), CmdError> {
    let dir = std::path::Path::new("/etc/netns").join(ns);
    let io = |source| CmdError::Spawn {
        cmd: format!("writing {}/resolv.conf", dir.display()),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let text = format!(
        "# a pod's resolv.conf, as kubelet writes it (kubewire-lab)\nsearch default.svc.{domain} svc.{domain} \
         {domain}\nnameserver {cluster_dns}\noptions ndots:5\n"
    );
    std::fs::write(dir.join("resolv.conf"), text).map_err(io)
}

/// The lab namespaces that exist now.
pub fn list_lab() -> Result<Vec<String>, CmdError> {
    let out = ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect())
}

pub fn exists(name: &str) -> bool {
    list_lab().map(|l| l.iter().any(|n| n == name)).unwrap_or(false)
}

/// The underlay namespace with its bridge `br0`.
pub fn create_underlay() -> Result<(), CmdError> {
    create(UNDERLAY_NS, false)?;
    ip_in(UNDERLAY_NS, &["link", "add", "br0", "type", "bridge"])?;
    ip_in(UNDERLAY_NS, &["link", "set", "br0", "up"])?;
    Ok(())
}

/// Plugs `ns` into the underlay as `eth0` with `addr` (a /24 in 192.0.2.0/24). `port` names the bridge
/// side in the underlay namespace and must be unique there (at most 15 bytes).
pub fn attach_underlay(ns: &str, port: &str, addr: Ipv4Addr) -> Result<(), CmdError> {
    ip_in(
        UNDERLAY_NS,
        &[
            "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ],
    )?;
    ip_in(UNDERLAY_NS, &["link", "set", port, "master", "br0", "up"])?;
    let cidr = format!("{addr}/{}", UNDERLAY.prefix_len());
    ip_in(ns, &["addr", "add", &cidr, "dev", "eth0"])?;
    ip_in(ns, &["link", "set", "eth0", "up"])?;
    announce(ns, "eth0", addr)
}

/// Gratuitous ARP for `addr` on `ns`'s `dev`, as a VM does when it gets an address: neighbours
/// that cached an earlier owner of the address (a removed node, a moved endpoint) learn the new one.
/// The packet leaves at once; arping then idles a second for replies that never come, so it is
/// reaped in the background rather than waited for.
pub fn announce(ns: &str, dev: &str, addr: Ipv4Addr) -> Result<(), CmdError> {
    let args = ["netns", "exec", ns, "arping", "-q", "-U", "-c", "1", "-I", dev];
    let mut child = std::process::Command::new("ip")
        .args(args)
        .arg(addr.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| CmdError::Spawn {
            cmd: format!("ip {} {addr}", args.join(" ")),
            source,
        })?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The bridge name of `cluster`'s location LAN `index` in the underlay namespace.
pub fn lan_bridge(cluster: ClusterId, location_index: u8) -> String {
    cluster.lan_bridge(location_index)
}

/// Makes sure `cluster`'s location LAN `index` has its bridge.
pub fn ensure_lan(cluster: ClusterId, location_index: u8) -> Result<(), CmdError> {
    let bridge = lan_bridge(cluster, location_index);
    if ip_in(UNDERLAY_NS, &["link", "show", &bridge]).is_ok() {
        return Ok(());
    }
    ip_in(UNDERLAY_NS, &["link", "add", &bridge, "type", "bridge"])?;
    ip_in(UNDERLAY_NS, &["link", "set", &bridge, "up"])?;
    Ok(())
}

/// Deletes a namespace (its interfaces go with it); a missing one is fine.
pub fn delete(name: &str) -> Result<(), CmdError> {
    let _ = std::fs::remove_dir_all(std::path::Path::new("/etc/netns").join(name));
    if !exists(name) {
        return Ok(());
    }
    ip(&["netns", "del", name]).map(|_| ())
}

/// The PIDs of processes inside namespace `name`.
pub fn pids(name: &str) -> Vec<i32> {
    ip(&["netns", "pids", name])
        .map(|out| out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}
