//! Linux: kernel WireGuard when the module is there, else BoringTun in-process (both through
//! `defguard_wireguard_rs`). Choose by hand with `KUBEWIRE_WG_BACKEND=kernel|userspace`.
//!
//! Routes and the reading of the machine's own networks use `ip` (iproute2), batched through
//! `ip -force -batch -`: the crate's netlink route helpers are private, and `ip` is on every Linux
//! the daemon targets. This is the documented fallback; a netlink implementation can replace these
//! few functions without touching the rest.

use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use defguard_wireguard_rs::error::WireguardInterfaceError;
use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::{InterfaceConfiguration, Kernel, Userspace, WGApi, WireguardInterfaceApi};
use ipnet::IpNet;
use kubewire_core::PublicKey;
use kubewire_core::lan_yield::LocalNetwork;

use crate::platform::Platform;
use crate::wgconv::{backend_error, mask, peer_stats, to_peer};
use crate::{Backend, InterfaceSpec, PeerSpec, PeerStats, PrivateKeyText, TunnelError};

enum Api {
    Kernel(WGApi<Kernel>),
    Userspace(WGApi<Userspace>),
}

impl Api {
    fn get(&self) -> &dyn WireguardInterfaceApi {
        match self {
            Self::Kernel(api) => api,
            Self::Userspace(api) => api,
        }
    }
}

pub(crate) struct Linux {
    name: String,
    api: Api,
}

fn uapi_socket(name: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{name}.sock"))
}

/// `Some(true)`: a live process serves the control socket; `Some(false)`: a stale file; `None`: none.
fn socket_live(name: &str) -> Option<bool> {
    let path = uapi_socket(name);
    if !path.exists() {
        return None;
    }
    Some(UnixStream::connect(&path).is_ok())
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ip -force -batch -` with one command per line; returns stderr lines.
fn ip_batch(lines: &[String]) -> Result<Vec<String>, TunnelError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let io = |source| TunnelError::Io {
        what: "running ip",
        source,
    };
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(lines.join("\n").as_bytes()).map_err(io)?;
        stdin.write_all(b"\n").map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    Ok(String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect())
}

fn is_absent(line: &str) -> bool {
    line.contains("No such process")
        || line.contains("Cannot find device")
        || line.contains("No such device")
        || line.starts_with("Command failed")
}

fn route_lines(verb: &str, routes: &[IpNet], dev: &str) -> Vec<String> {
    routes
        .iter()
        .map(|r| format!("route {verb} {} dev {dev}", r.trunc()))
        .collect()
}

impl Linux {
    /// BoringTun is started from a thread named [`BORINGTUN_THREAD`], so its worker threads carry
    /// that name and [`boringtun_threads`] can count them.
    fn userspace(name: &str) -> Result<Api, TunnelError> {
        let owned = name.to_owned();
        let creator = std::thread::Builder::new()
            .name(BORINGTUN_THREAD.into())
            .spawn(move || -> Result<WGApi<Userspace>, TunnelError> {
                let mut api = WGApi::<Userspace>::new(owned).map_err(backend_error("starting BoringTun"))?;
                api.create_interface()
                    .map_err(backend_error("creating the BoringTun interface"))?;
                Ok(api)
            })
            .map_err(|source| TunnelError::Io {
                what: "starting BoringTun",
                source,
            })?;
        let api = creator
            .join()
            .map_err(|_| TunnelError::Panicked("starting BoringTun"))??;
        Ok(Api::Userspace(api))
    }

    fn kernel(name: &str) -> Result<Api, WireguardInterfaceError> {
        let mut api = WGApi::<Kernel>::new(name)?;
        api.create_interface()?;
        Ok(Api::Kernel(api))
    }
}

impl Platform for Linux {
    fn create(spec: &InterfaceSpec, key: &PrivateKeyText) -> Result<Self, TunnelError> {
        let name = spec.name.as_str();
        match socket_live(name) {
            Some(true) => return Err(TunnelError::NameInUse(name.to_owned())),
            Some(false) => {
                tracing::warn!(interface = name, "removing a stale WireGuard control socket");
                let _ = std::fs::remove_file(uapi_socket(name));
            }
            None => {}
        }
        if link_exists(name) {
            return Err(TunnelError::NameInUse(name.to_owned()));
        }
        let choice = std::env::var("KUBEWIRE_WG_BACKEND").unwrap_or_default();
        let api = match choice.as_str() {
            "userspace" | "boringtun" => Self::userspace(name)?,
            "kernel" => {
                Self::kernel(name).map_err(backend_error("creating the kernel WireGuard interface"))?
            }
            _ if !kernel_wireguard_available() => {
                tracing::info!(
                    interface = name,
                    "no kernel WireGuard module; using BoringTun in-process"
                );
                Self::userspace(name)?
            }
            _ => match Self::kernel(name) {
                Ok(api) => api,
                Err(err) => {
                    tracing::info!(interface = name, reason = %err, "no kernel WireGuard; using BoringTun in-process");
                    Self::userspace(name)?
                }
            },
        };
        let this = Self {
            name: name.to_owned(),
            api,
        };
        let config = InterfaceConfiguration {
            name: name.to_owned(),
            prvkey: key.0.clone(),
            addresses: vec![mask(&spec.address)],
            port: spec.listen_port.unwrap_or(0),
            peers: Vec::new(),
            mtu: Some(u32::from(spec.mtu)),
            fwmark: None,
        };
        if let Err(err) = this.api.get().configure_interface(&config) {
            let mut this = this;
            let _ = this.remove();
            return Err(backend_error("configuring the interface")(err));
        }
        Ok(this)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        match self.api {
            Api::Kernel(_) => Backend::Kernel,
            Api::Userspace(_) => Backend::Boringtun,
        }
    }

    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), TunnelError> {
        self.api
            .get()
            .configure_peer(&to_peer(peer))
            .map_err(backend_error("adding a peer"))
    }

    fn remove_peer(&mut self, key: &PublicKey) -> Result<(), TunnelError> {
        self.api
            .get()
            .remove_peer(&Key::new(*key.as_bytes()))
            .map_err(backend_error("removing a peer"))
    }

    fn add_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        let errors = ip_batch(&route_lines("replace", routes, &self.name))?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TunnelError::Command {
                what: "adding routes",
                command: "ip route replace".into(),
                stderr: errors.join("; "),
            })
        }
    }

    fn remove_routes(&mut self, routes: &[IpNet]) -> Result<(), TunnelError> {
        let errors: Vec<String> = ip_batch(&route_lines("del", routes, &self.name))?
            .into_iter()
            .filter(|l| !is_absent(l))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TunnelError::Command {
                what: "removing routes",
                command: "ip route del".into(),
                stderr: errors.join("; "),
            })
        }
    }

    fn set_mtu(&mut self, mtu: u16) -> Result<(), TunnelError> {
        run_ip(
            &["link", "set", "dev", &self.name, "mtu", &mtu.to_string()],
            "setting the MTU",
        )
    }
    fn read_peers(&self) -> Result<Vec<PeerStats>, TunnelError> {
        let host = self
            .api
            .get()
            .read_interface_data()
            .map_err(backend_error("reading peer statistics"))?;
        Ok(peer_stats(&host))
    }

    fn remove(&mut self) -> Result<(), TunnelError> {
        match self.api.get().remove_interface() {
            Ok(()) => {}
            // The crate clears DNS too and fails where no DNS backend runs, after (userspace) or
            // before (kernel) removing the link; kubewire keeps DNS in its own code, so: not fatal.
            Err(WireguardInterfaceError::DnsError(message)) => {
                tracing::debug!(interface = %self.name, %message, "the WireGuard library's DNS cleanup failed (ignored)");
            }
            Err(err) => return Err(backend_error("removing the interface")(err)),
        }
        if matches!(self.api, Api::Kernel(_)) && link_exists(&self.name) {
            run_ip(&["link", "del", "dev", &self.name], "removing the interface")?;
        }
        Ok(())
    }
}

/// Whether the kernel has WireGuard: the module is loaded, or loads (`modprobe wireguard`). Saves a
/// failing netlink call (and the library's error log line) on kernels without it.
fn kernel_wireguard_available() -> bool {
    std::path::Path::new("/sys/module/wireguard").exists()
        || Command::new("modprobe")
            .args(["-q", "wireguard"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// The name BoringTun's threads inherit (see [`Linux::userspace`]).
pub(crate) const BORINGTUN_THREAD: &str = "kwd-boringtun";

/// How many BoringTun worker threads run in this process. BoringTun registers its own SIGTERM and
/// SIGINT handlers (a signalfd) and, when it wins the race for a signal meant for the whole process,
/// stops its threads: the interface is then dead while the process lives on. Counting the threads
/// lets the daemon notice and stop as asked.
#[must_use]
pub fn boringtun_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == BORINGTUN_THREAD)
        .count()
}

fn run_ip(args: &[&str], what: &'static str) -> Result<(), TunnelError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| TunnelError::Io { what, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TunnelError::Command {
            what,
            command: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

pub(crate) fn cleanup_leftover(interface: &str, routes: &[IpNet]) -> Result<Vec<String>, TunnelError> {
    let mut done = Vec::new();
    let link = link_exists(interface);
    if link && !routes.is_empty() {
        let errors: Vec<String> = ip_batch(&route_lines("del", routes, interface))?
            .into_iter()
            .filter(|l| !is_absent(l))
            .collect();
        if !errors.is_empty() {
            tracing::warn!(interface, errors = %errors.join("; "), "some leftover routes could not be removed");
        }
        done.push(format!("routes through {interface}"));
    }
    let live = socket_live(interface);
    // The link is in this network namespace and nobody here serves it any more (this daemon just
    // started); a live control socket of that name belongs to another namespace's process.
    if link {
        run_ip(
            &["link", "del", "dev", interface],
            "removing a leftover interface",
        )?;
        done.push(format!("interface {interface}"));
    }
    if live == Some(false) {
        std::fs::remove_file(uapi_socket(interface)).map_err(|source| TunnelError::Io {
            what: "removing a stale control socket",
            source,
        })?;
        done.push(format!("stale socket {}", uapi_socket(interface).display()));
    }
    Ok(done)
}

fn routes_json(family: &str) -> Result<serde_json::Value, TunnelError> {
    let out = Command::new("ip")
        .args(["-j", family, "route", "show", "table", "main"])
        .output()
        .map_err(|source| TunnelError::Io {
            what: "reading the routing table",
            source,
        })?;
    if !out.status.success() {
        return Err(TunnelError::Command {
            what: "reading the routing table",
            command: format!("ip -j {family} route show table main"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| TunnelError::Command {
        what: "reading the routing table",
        command: format!("ip -j {family} route show table main"),
        stderr: e.to_string(),
    })
}

/// The destinations of `ip -j route` output and their interfaces, without the default route and
/// `exclude`'s routes.
pub(crate) fn parse_routes(json: &serde_json::Value, exclude: Option<&str>) -> Vec<LocalNetwork> {
    let Some(list) = json.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|r| exclude.is_none() || r.get("dev").and_then(|d| d.as_str()) != exclude)
        .filter(|r| {
            !matches!(
                r.get("type").and_then(|t| t.as_str()),
                Some("unreachable" | "blackhole" | "prohibit" | "throw")
            )
        })
        .filter_map(|r| {
            let dst = r.get("dst").and_then(|d| d.as_str())?;
            if dst == "default" {
                return None;
            }
            let net = dst
                .parse::<IpNet>()
                .ok()
                .or_else(|| dst.parse::<IpAddr>().ok().map(IpNet::from))?;
            let interface = r.get("dev").and_then(|d| d.as_str()).map(str::to_owned);
            Some(LocalNetwork { net, interface })
        })
        .collect()
}

/// The MTU of the route towards `addr`: the route's own, else its device's (`ip route get` and
/// sysfs).
pub(crate) fn path_mtu(addr: std::net::IpAddr) -> Option<u16> {
    let out = Command::new("ip")
        .args(["-j", "route", "get", &addr.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let (dev, own) = crate::path_mtu::parse_ip_route_get(&json)?;
    own.or_else(|| {
        std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

pub(crate) fn local_networks(exclude_interface: Option<&str>) -> Result<Vec<LocalNetwork>, TunnelError> {
    let mut nets = parse_routes(&routes_json("-4")?, exclude_interface);
    // IPv6 may be disabled: then there is nothing to add.
    if let Ok(v6) = routes_json("-6") {
        nets.extend(parse_routes(&v6, exclude_interface));
    }
    nets.sort_by(|a, b| (a.net, &a.interface).cmp(&(b.net, &b.interface)));
    nets.dedup();
    Ok(nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_parsing_skips_default_our_interface_and_blackholes() {
        let json: serde_json::Value = serde_json::from_str(
            r#"[{"dst":"default","gateway":"192.168.1.1","dev":"wlan0"},
                {"dst":"192.168.1.0/24","dev":"wlan0","protocol":"kernel"},
                {"dst":"10.42.0.0/24","dev":"kubewire0"},
                {"dst":"172.17.0.1","dev":"docker0"},
                {"type":"blackhole","dst":"10.99.0.0/16","flags":[]}]"#,
        )
        .unwrap();
        assert_eq!(
            parse_routes(&json, Some("kubewire0")),
            vec![
                LocalNetwork {
                    net: "192.168.1.0/24".parse().unwrap(),
                    interface: Some("wlan0".into())
                },
                LocalNetwork {
                    net: "172.17.0.1/32".parse().unwrap(),
                    interface: Some("docker0".into())
                },
            ]
        );
    }
}
