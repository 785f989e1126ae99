//! Applies a node's mesh configuration ([`crate::mesh::NodeConfig`]) as a difference against what is
//! applied now: WireGuard address, peers (`wg syncconf`, which leaves unchanged peers alone) and routes
//! (replaced in place, removed only when gone), so flows that did not change are not disturbed.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ipnet::IpNet;

use super::NetError;
use super::cmd::{exec_in, ip_in};
use crate::mesh::{NodeConfig, Route, WgPeer};
use crate::model::{Node, WIREGUARD_PORT};

/// Moves `node` from configuration `old` to `new`.
pub fn apply(dir: &Path, node: &Node, old: &NodeConfig, new: &NodeConfig) -> Result<(), NetError> {
    let netns = node.netns();
    let ifname = node.wg_ifname();
    let address_changed = old.wireguard_ip != new.wireguard_ip;
    if address_changed {
        // New address first: an interface left without IPv4 even for a moment loses every route
        // through it. The node namespaces promote secondaries, so removing the old primary keeps it.
        if let Some(addr) = new.wireguard_ip {
            ip_in(&netns, &["addr", "replace", &addr.to_string(), "dev", &ifname])?;
        }
        if let Some(addr) = old.wireguard_ip {
            let _ = ip_in(&netns, &["addr", "del", &addr.to_string(), "dev", &ifname]);
        }
    }
    if old.peers != new.peers {
        let conf = dir.join("wg").join(format!("{}.conf", node.name));
        if let Some(parent) = conf.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&conf, wg_conf(&node.private_key, &new.peers))?;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))?;
        exec_in(&netns, "wg", &["syncconf", &ifname, &conf.to_string_lossy()])?;
    }
    // After an address change, assert every route again (the kernel may have dropped some).
    let to_add: Vec<&Route> = if address_changed {
        new.routes.iter().collect()
    } else {
        new.routes.difference(&old.routes).collect()
    };
    for route in to_add {
        let args = match route {
            Route::Wireguard(net) => vec![
                "route".to_string(),
                "replace".into(),
                net.to_string(),
                "dev".into(),
                ifname.clone(),
            ],
            Route::Via(net, gw) => {
                vec![
                    "route".into(),
                    "replace".into(),
                    net.to_string(),
                    "via".into(),
                    gw.to_string(),
                    "dev".into(),
                    "lan0".into(),
                ]
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ip_in(&netns, &args)?;
    }
    let still_routed: Vec<IpNet> = new.routes.iter().map(destination).collect();
    for route in old.routes.difference(&new.routes) {
        let net = destination(route);
        if !still_routed.contains(&net) {
            // Already gone with an interface is fine.
            let _ = ip_in(&netns, &["route", "del", &net.to_string()]);
        }
    }
    Ok(())
}

fn destination(route: &Route) -> IpNet {
    match route {
        Route::Wireguard(net) | Route::Via(net, _) => *net,
    }
}

/// A `wg setconf`-style configuration of a node's interface.
pub fn wg_conf(private_key: &str, peers: &[WgPeer]) -> String {
    let mut out = format!("[Interface]\nPrivateKey = {private_key}\nListenPort = {WIREGUARD_PORT}\n");
    for p in peers {
        let _ = write!(out, "\n[Peer]\nPublicKey = {}\n", p.public_key);
        if !p.allowed_ips.is_empty() {
            let ips: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "AllowedIPs = {}", ips.join(", "));
        }
        if let Some(ep) = p.endpoint {
            let _ = writeln!(out, "Endpoint = {ep}");
        }
        if p.persistent_keepalive > 0 {
            let _ = writeln!(out, "PersistentKeepalive = {}", p.persistent_keepalive);
        }
        if let Some(psk) = &p.preshared_key {
            let _ = writeln!(out, "PresharedKey = {psk}");
        }
    }
    out
}
