//! Windows: WireGuardNT through `defguard_wireguard_rs` (kernel driver). Its adapter takes peers only
//! as a whole configuration, so every peer change re-sends the full list through
//! `configure_interface` (WireGuardNT replaces peers without the BoringTun panic); the adapter itself
//! is never re-created for a peer change. Routes with `route.exe`. Not built on the project's Linux CI.

use std::collections::BTreeMap;
use std::process::Command;

use defguard_wireguard_rs::error::WireguardInterfaceError;
use defguard_wireguard_rs::peer::Peer;
use defguard_wireguard_rs::{InterfaceConfiguration, Kernel, WGApi, WireguardInterfaceApi};
use ipnet::IpNet;
use kubewire_core::PublicKey;
use kubewire_core::lan_yield::LocalNetwork;

use crate::platform::Platform;
use crate::route_exe;
use crate::wgconv::{backend_error, mask, peer_stats, to_peer};
use crate::{Backend, InterfaceSpec, PeerSpec, PeerStats, PrivateKeyText, TunnelError};

pub(crate) struct Windows {
    name: String,
    api: WGApi<Kernel>,
    config: InterfaceConfiguration,
    peers: BTreeMap<PublicKey, Peer>,
}

fn route(args: &[&str], what: &'static str) -> Result<(), TunnelError> {
    let out = Command::new("route")
        .args(args)
        .output()
        .map_err(|source| TunnelError::Io { what, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TunnelError::Command {
            what,
            command: format!("route {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }
}

impl Windows {
    /// The tunnel's own address: the gateway of its routes (it puts them on the tunnel).
    fn gateway(&self) -> String {
        self.config
            .addresses
            .first()
            .map(|a| a.address.to_string())
            .unwrap_or_default()
    }

    fn push(&mut self) -> Result<(), TunnelError> {
        self.config.peers = self.peers.values().cloned().collect();
        self.api
            .configure_interface(&self.config)
            .map_err(backend_error("configuring peers"))
    }
}

impl Platform for Windows {
    fn create(spec: &InterfaceSpec, key: &PrivateKeyText) -> Result<Self, TunnelError> {
        let mut api =
            WGApi::<Kernel>::new(spec.name.clone()).map_err(backend_error("loading WireGuardNT"))?;
        api.create_interface()
            .map_err(backend_error("creating the adapter"))?;
        let config = InterfaceConfiguration {
            name: spec.name.clone(),
            prvkey: key.0.clone(),
            addresses: vec![mask(&spec.address)],
            port: spec.listen_port.unwrap_or(0),
            peers: Vec::new(),
            mtu: Some(u32::from(spec.mtu)),
            fwmark: None,
        };
        api.configure_interface(&config)
            .map_err(backend_error("configuring the adapter"))?;
        Ok(Self {
            name: spec.name.clone(),
            api,
            config,
            peers: BTreeMap::new(),
        })
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn backend(&self) -> Backend {
        Backend::Kernel
    }
    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), TunnelError> {
        let p = to_peer(peer);
        self.peers.insert(peer.public_key, p);
        self.push()
    }
    fn remove_peer(&mut self, key: &PublicKey) -> Result<(), TunnelError> {
        self.peers.remove(key);
        self.push()
    }
    fn add_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        // WireGuardNT's configure_interface installs routes for AllowedIPs itself; add the rest.
        let gateway = self.gateway();
        for r in routes {
            let args = route_exe::args("ADD", r, &gateway, None);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = route(&args, "adding a route");
        }
        Ok(())
    }
    fn remove_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        // Network, mask and the tunnel's gateway: never another route to the same network.
        let gateway = self.gateway();
        for r in routes {
            let args = route_exe::args("DELETE", r, &gateway, None);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = route(&args, "removing a route");
        }
        Ok(())
    }
    fn set_mtu(&mut self, mtu: u16) -> Result<(), TunnelError> {
        for family in ["ipv4", "ipv6"] {
            let iface = format!("interface={}", self.name);
            let value = format!("mtu={mtu}");
            let args = [
                "interface",
                family,
                "set",
                "subinterface",
                &iface,
                &value,
                "store=active",
            ];
            let out = Command::new("netsh")
                .args(args)
                .output()
                .map_err(|source| TunnelError::Io {
                    what: "setting the MTU",
                    source,
                })?;
            if !out.status.success() {
                return Err(TunnelError::Command {
                    what: "setting the MTU",
                    command: format!("netsh {}", args.join(" ")),
                    stderr: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                });
            }
        }
        Ok(())
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
            Err(e) => Err(backend_error("removing the adapter")(e)),
        }
    }
}

/// A WireGuardNT adapter outlives a crashed service: remove it by name. Its routes go with it
/// (Windows drops the routes of a removed interface); they are not deleted by network here, since
/// without the tunnel's gateway that would also delete the user's own routes to those networks.
pub(crate) fn cleanup_leftover(interface: &str, routes: &[IpNet]) -> Result<Vec<String>, TunnelError> {
    if let Ok(mut api) = WGApi::<Kernel>::new(interface.to_owned()) {
        let _ = api.remove_interface();
    }
    tracing::debug!(interface, routes = routes.len(), "routes leave with the adapter");
    Ok(vec![format!("adapter {interface}")])
}

/// Not read on Windows yet (`GetBestInterfaceEx` + `GetIpInterfaceEntry` belong to the Windows
/// port): the tunnel keeps wg-quick's default, 1420, unless `--mtu` is given.
pub(crate) fn path_mtu(_addr: std::net::IpAddr) -> Option<u16> {
    None
}

/// The networks of the machine's adapters (`GetAdaptersAddresses` through `if-addrs`): each
/// unicast address with its prefix, named by its adapter; the tunnel's own adapter left out. Routes
/// without an address of ours (a VPN's pushed routes) are not read here yet.
pub(crate) fn local_networks(exclude_interface: Option<&str>) -> Result<Vec<LocalNetwork>, TunnelError> {
    let adapters = if_addrs::get_if_addrs().map_err(|source| TunnelError::Io {
        what: "reading the network adapters",
        source,
    })?;
    Ok(adapters
        .into_iter()
        .filter(|a| Some(a.name.as_str()) != exclude_interface && !a.is_loopback())
        .filter_map(|a| {
            let net = match &a.addr {
                if_addrs::IfAddr::V4(v4) => IpNet::new(v4.ip.into(), v4.prefixlen).ok()?,
                if_addrs::IfAddr::V6(v6) => IpNet::new(v6.ip.into(), v6.prefixlen).ok()?,
            };
            Some(LocalNetwork {
                net: net.trunc(),
                interface: Some(a.name),
            })
        })
        .collect())
}
