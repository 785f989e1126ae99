//! macOS: BoringTun in-process on a `utunN` interface (the kernel picks no other names; the Plan's
//! name is only a wish), routes with `route(8)`, the machine's networks from `netstat -rn`.
//! Not built on the project's Linux CI; kept to the same private trait so the compiler checks it on
//! a Mac.

use std::process::Command;

use defguard_wireguard_rs::error::WireguardInterfaceError;
use defguard_wireguard_rs::{InterfaceConfiguration, Userspace, WGApi, WireguardInterfaceApi};
use ipnet::IpNet;
use kubewire_core::PublicKey;
use kubewire_core::lan_yield::LocalNetwork;

use crate::platform::Platform;
use crate::wgconv::{backend_error, key as wg_key, mask, peer_stats, to_peer};
use crate::{Backend, InterfaceSpec, PeerSpec, PeerStats, PrivateKeyText, TunnelError};

pub(crate) struct Macos {
    name: String,
    api: WGApi<Userspace>,
}

fn run(program: &str, args: &[&str], what: &'static str) -> Result<String, TunnelError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| TunnelError::Io { what, source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(TunnelError::Command {
            what,
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The first `utunN` that does not exist yet.
fn free_utun() -> String {
    (3..256)
        .map(|n| format!("utun{n}"))
        .find(|name| run("ifconfig", &[name.as_str()], "probing utun").is_err())
        .unwrap_or_else(|| "utun255".into())
}

fn family(net: &IpNet) -> &'static str {
    if net.addr().is_ipv4() { "-inet" } else { "-inet6" }
}

impl Platform for Macos {
    fn create(spec: &InterfaceSpec, key: &PrivateKeyText) -> Result<Self, TunnelError> {
        let name = free_utun();
        let mut api = WGApi::<Userspace>::new(name.clone()).map_err(backend_error("starting BoringTun"))?;
        api.create_interface()
            .map_err(backend_error("creating the interface"))?;
        let config = InterfaceConfiguration {
            name: name.clone(),
            prvkey: key.0.clone(),
            addresses: vec![mask(&spec.address)],
            port: spec.listen_port.unwrap_or(0),
            peers: Vec::new(),
            mtu: Some(u32::from(spec.mtu)),
            fwmark: None,
        };
        api.configure_interface(&config)
            .map_err(backend_error("configuring the interface"))?;
        Ok(Self { name, api })
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn backend(&self) -> Backend {
        Backend::Boringtun
    }
    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), TunnelError> {
        let p = to_peer(peer);
        self.api
            .configure_peer(&p)
            .map_err(backend_error("adding a peer"))
    }
    fn remove_peer(&mut self, key: &PublicKey) -> Result<(), TunnelError> {
        self.api
            .remove_peer(&wg_key(key))
            .map_err(backend_error("removing a peer"))
    }
    fn add_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        for r in routes {
            let net = r.to_string();
            run(
                "route",
                &["-q", "-n", "add", family(r), &net, "-interface", &self.name],
                "adding a route",
            )?;
        }
        Ok(())
    }
    fn remove_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        for r in routes {
            let net = r.to_string();
            let _ = run(
                "route",
                &["-q", "-n", "delete", family(r), &net, "-interface", &self.name],
                "removing a route",
            );
        }
        Ok(())
    }
    fn set_mtu(&mut self, mtu: u16) -> Result<(), TunnelError> {
        run(
            "ifconfig",
            &[&self.name, "mtu", &mtu.to_string()],
            "setting the MTU",
        )
        .map(|_| ())
    }
    fn read_peers(&self) -> Result<Vec<PeerStats>, TunnelError> {
        let host = self
            .api
            .read_interface_data()
            .map_err(backend_error("reading peer statistics"))?;
        Ok(peer_stats(&host))
    }
    fn remove(&mut self) -> Result<(), TunnelError> {
        match self.api.remove_interface() {
            Ok(()) | Err(WireguardInterfaceError::DnsError(_)) => Ok(()),
            Err(e) => Err(backend_error("removing the interface")(e)),
        }
    }
}

/// A crashed process's utun vanishes with it; only routes pointing at it may remain.
pub(crate) fn cleanup_leftover(interface: &str, routes: &[IpNet]) -> Result<Vec<String>, TunnelError> {
    for r in routes {
        let net = r.to_string();
        let _ = run(
            "route",
            &["-q", "-n", "delete", family(r), &net, "-interface", interface],
            "removing a route",
        );
    }
    Ok(vec![format!("routes through {interface}")])
}

/// The MTU of the route towards `addr` (`route -n get`).
pub(crate) fn path_mtu(addr: std::net::IpAddr) -> Option<u16> {
    let text = run("route", &["-n", "get", &addr.to_string()], "reading a route").ok()?;
    crate::path_mtu::parse_route_get(&text)
}

pub(crate) fn local_networks(exclude_interface: Option<&str>) -> Result<Vec<LocalNetwork>, TunnelError> {
    let text = run("netstat", &["-rn"], "reading the routing table")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (dst, netif) = (cols.first()?, cols.get(3)?);
            if Some(*netif) == exclude_interface || *dst == "default" {
                return None;
            }
            let net = dst.parse::<IpNet>().ok()?;
            Some(LocalNetwork {
                net,
                interface: Some((*netif).to_owned()),
            })
        })
        .collect())
}
