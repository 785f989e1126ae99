//! One lab node: its namespace, underlay and LAN links, `cni0` bridge, the `echo-<node>` pod, and a
//! userspace WireGuard interface (wireguard-go) like Kilo's `kilo0`.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::NetError;
use super::cmd::{exec_in, ip_in};
use super::ns::{self, UNDERLAY_NS};
use super::procs::{LabProcess, spawn_in};
use crate::model::{DnsPod, Node, SERVICE_CIDR, WIREGUARD_PORT};

/// WireGuard MTU: the underlay's 1500 minus 80.
pub const WG_MTU: &str = "1420";

/// The UAPI socket of a userspace WireGuard interface (shared by all namespaces).
pub fn wg_socket(ifname: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{ifname}.sock"))
}

/// Builds node `node` and starts its processes (WireGuard, the echo pod's server).
pub fn create(dir: &Path, node: &Node, exe: &Path) -> Result<Vec<LabProcess>, NetError> {
    let netns = node.netns();
    ns::create(&netns, true)?;
    ns::attach_underlay(&netns, &format!("u-{}", node.name), node.underlay_ip)?;

    ns::ensure_lan(node.cluster, node.location_index)?;
    let lan_port = format!("l-{}", node.name);
    ip_in(
        UNDERLAY_NS,
        &[
            "link", "add", &lan_port, "type", "veth", "peer", "name", "lan0", "netns", &netns,
        ],
    )?;
    ip_in(
        UNDERLAY_NS,
        &[
            "link",
            "set",
            &lan_port,
            "master",
            &ns::lan_bridge(node.cluster, node.location_index),
            "up",
        ],
    )?;
    ip_in(
        &netns,
        &[
            "addr",
            "add",
            &format!("{}/{}", node.internal_ip(), node.lan().prefix_len()),
            "dev",
            "lan0",
        ],
    )?;
    ip_in(&netns, &["link", "set", "lan0", "up"])?;
    // A removed member's LAN address comes back with the next member: neighbours must learn it.
    ns::announce(&netns, "lan0", node.internal_ip())?;

    ip_in(&netns, &["link", "add", "cni0", "type", "bridge"])?;
    ip_in(
        &netns,
        &[
            "addr",
            "add",
            &format!("{}/24", node.pod_gateway()),
            "dev",
            "cni0",
        ],
    )?;
    ip_in(&netns, &["link", "set", "cni0", "up"])?;
    // The node's own connections to service IPs need a route before kube-proxy's DNAT applies.
    ip_in(
        &netns,
        &["route", "add", &SERVICE_CIDR.to_string(), "dev", "cni0"],
    )?;

    let mut procs = vec![start_wireguard(dir, node)?];
    create_pod(node, &node.pod_netns(), "vecho", node.pod_ip())?;
    let listen = "0.0.0.0:80".to_string();
    let exe = exe.to_string_lossy();
    procs.push(spawn_in(
        dir,
        &node.pod_name(),
        &node.pod_netns(),
        &exe,
        &["pod-http", "--name", &node.pod_name(), "--listen", &listen],
        &[],
    )?);
    Ok(procs)
}

/// A pod namespace `pod_ns` on `node`'s `cni0` at `ip`, its default route via the node.
pub fn create_pod(node: &Node, pod_ns: &str, node_side: &str, ip: Ipv4Addr) -> Result<(), NetError> {
    let netns = node.netns();
    ns::create(pod_ns, false)?;
    ns::write_pod_resolv_conf(pod_ns, crate::model::CLUSTER_DNS_IP, crate::model::CLUSTER_DOMAIN)?;
    ip_in(
        &netns,
        &[
            "link", "add", node_side, "type", "veth", "peer", "name", "eth0", "netns", pod_ns,
        ],
    )?;
    ip_in(&netns, &["link", "set", node_side, "master", "cni0", "up"])?;
    // As the bridge CNI's hairpinMode: a pod reaching itself through a service (with br_netfilter
    // loaded, the DNAT happens on the bridge and the frame leaves by the port it came in).
    ip_in(
        &netns,
        &["link", "set", node_side, "type", "bridge_slave", "hairpin", "on"],
    )?;
    ip_in(pod_ns, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
    ip_in(pod_ns, &["link", "set", "eth0", "up"])?;
    ip_in(
        pod_ns,
        &["route", "add", "default", "via", &node.pod_gateway().to_string()],
    )?;
    Ok(())
}

/// The DNS pod (`coredns`, served by unbound) on `node`.
pub fn create_dns_pod(dir: &Path, node: &Node, dns: &DnsPod, config: &Path) -> Result<LabProcess, NetError> {
    let netns = dns.netns();
    create_pod(node, &netns, "vdns", dns.ip)?;
    let config = config.to_string_lossy();
    Ok(spawn_in(
        dir,
        &dns.process(),
        &netns,
        "unbound",
        &["-d", "-c", &config],
        &[],
    )?)
}

fn start_wireguard(dir: &Path, node: &Node) -> Result<LabProcess, NetError> {
    let ifname = node.wg_ifname();
    let netns = node.netns();
    let _ = std::fs::remove_file(wg_socket(&ifname));
    let proc = spawn_in(
        dir,
        &ifname,
        &netns,
        "wireguard-go",
        &[&ifname],
        &[("WG_PROCESS_FOREGROUND", "1")],
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !wg_socket(&ifname).exists() {
        if Instant::now() > deadline {
            return Err(NetError::Timeout(format!(
                "wireguard-go for {ifname} did not open its socket"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let key_file = write_key(dir, &node.name, &node.private_key)?;
    let port = WIREGUARD_PORT.to_string();
    exec_in(
        &netns,
        "wg",
        &[
            "set",
            &ifname,
            "private-key",
            &key_file.to_string_lossy(),
            "listen-port",
            &port,
        ],
    )?;
    ip_in(&netns, &["link", "set", &ifname, "mtu", WG_MTU, "up"])?;
    Ok(proc)
}

/// Writes a private key to `<dir>/keys/<name>.key`, mode 0600.
pub fn write_key(dir: &Path, name: &str, key: &str) -> Result<PathBuf, NetError> {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let path = keys.join(format!("{name}.key"));
    std::fs::write(&path, format!("{key}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

/// Moves the node's underlay address (a cloud VM that got a new public IP). The old address goes
/// first: removing a primary address would take a secondary of the same subnet with it.
pub fn move_underlay(node: &Node, new_ip: Ipv4Addr) -> Result<(), NetError> {
    let netns = node.netns();
    ip_in(
        &netns,
        &["addr", "del", &format!("{}/24", node.underlay_ip), "dev", "eth0"],
    )?;
    ip_in(&netns, &["addr", "add", &format!("{new_ip}/24"), "dev", "eth0"])?;
    ns::announce(&netns, "eth0", new_ip)?;
    Ok(())
}

/// Deletes the node's namespaces (its processes must be stopped first).
pub fn delete(node: &Node) -> Result<(), NetError> {
    ns::delete(&node.pod_netns())?;
    ns::delete(&node.netns())?;
    let _ = std::fs::remove_file(wg_socket(&node.wg_ifname()));
    Ok(())
}
