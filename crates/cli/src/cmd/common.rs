//! What several subcommands share: the cluster and settings arguments, the async runtime, the
//! controller's state files (pid, log).

use std::path::PathBuf;

use anyhow::Context as _;
use ipnet::IpNet;
use kubewire_cluster::ConnectOptions;

/// Which cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig context (default: the current one).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: KUBECONFIG's files, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// How to plan.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// The service CIDR, when the API has no ServiceCIDR objects (default: the /16 around kube-dns,
    /// with a warning); may be repeated.
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Vec<IpNet>,
    /// Route the service CIDR through this node's segment.
    #[arg(long, value_name = "NODE")]
    pub service_gateway: Option<String>,
    /// The cluster DNS domain (k3s --cluster-domain). Default: the zone CoreDNS serves (the
    /// `kubernetes` plugin in kube-system/coredns's Corefile); when that cannot be read, `connect`
    /// asks the cluster's DNS through the tunnel; else `cluster.local` with a warning.
    #[arg(long, value_name = "ZONE")]
    pub cluster_domain: Option<String>,
    /// The node label holding each node's location (Kilo's --topology-label).
    #[arg(long, value_name = "LABEL", default_value = kubewire_core::model::DEFAULT_TOPOLOGY_LABEL)]
    pub topology_label: String,
    /// The laptop's tunnel address, inside the cluster's Kilo subnet (default: its Peer's address,
    /// else one chosen from its key). Refused when it is not private-use, not in the Kilo subnet,
    /// or on one of this machine's networks.
    #[arg(long, value_name = "CIDR")]
    pub address: Option<IpNet>,
    /// Persistent keepalive towards every segment, in seconds (0 = off): keeps NAT mappings open.
    #[arg(long, value_name = "SECONDS", default_value_t = 25)]
    pub persistent_keepalive: u16,
    /// The namespace of the first DNS search suffix (default: the context's, else `default`).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// A public (not private-use) range the cluster may route into the tunnel; may be repeated. By
    /// default only private-use ranges are routed (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
    /// 100.64.0.0/10, fc00::/7): a public range a node, a Peer or a ServiceCIDR asks for is left out with
    /// a warning naming it. At most /8 (IPv6 /16) each; loopback, link-local and multicast never.
    #[arg(long, value_name = "CIDR", value_parser = kubewire_core::check::scope::parse_allowed_range)]
    pub allow_public_range: Vec<IpNet>,
    /// The tunnel's MTU. By default kubewired follows the network: the MTU of the route towards the
    /// nodes less 80 (wg-quick's rule; 1420 on a 1500 network), re-checked whenever the network
    /// changes. Set it when a path drops large packets without saying so (`kubewire doctor` probes
    /// the path and names one that works).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(576..=9000))]
    pub mtu: Option<u16>,
    /// Route this cluster range into the tunnel even where a local network overlaps it (by default the
    /// LAN wins: `status` and `doctor` name the ranges it takes). Remembered for this context; may be
    /// repeated. Must be a range kubewire could route (private-use, at most /8).
    #[arg(long, value_name = "CIDR")]
    pub prefer_tunnel: Vec<IpNet>,
    /// Forget a `--prefer-tunnel` range of this context: the LAN wins it again. May be repeated.
    #[arg(long, value_name = "CIDR")]
    pub lan_wins: Vec<IpNet>,
}

/// The connect options for these arguments.
pub fn options(cluster: &ClusterArgs, settings: &SettingsArgs) -> anyhow::Result<ConnectOptions> {
    let mut o = ConnectOptions::new()?;
    o.kubeconfig.clone_from(&cluster.kubeconfig);
    o.context.clone_from(&cluster.context);
    o.settings.service_cidrs.clone_from(&settings.service_cidr);
    o.settings.service_gateway.clone_from(&settings.service_gateway);
    if let Some(zone) = &settings.cluster_domain {
        o.settings.dns_zone.clone_from(zone);
        o.cluster_domain_given = true;
    }
    o.settings.topology_label.clone_from(&settings.topology_label);
    o.settings.persistent_keepalive = settings.persistent_keepalive;
    o.address = settings.address;
    o.settings
        .allowed_public_ranges
        .clone_from(&settings.allow_public_range);
    o.settings.mtu = settings.mtu;
    o.preferences = kubewire_cluster::preferences::PreferenceChanges {
        store: kubewire_cluster::preferences::default_path(),
        add: settings.prefer_tunnel.clone(),
        remove: settings.lan_wins.clone(),
    };
    if o.preferences.store.is_none() {
        o.settings.prefer_tunnel.clone_from(&settings.prefer_tunnel);
    }
    if let Some(ns) = &settings.namespace {
        o.settings.namespace.clone_from(ns);
        o.namespace_given = true;
    }
    o.local_networks = kubewire_cluster::local_networks::local_networks(&o.settings.interface_name);
    Ok(o)
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The controller's state directory: `$KUBEWIRE_STATE_DIR`, else the OS's (`kubewire_cluster::paths`:
/// `$XDG_STATE_HOME/kubewire`, `~/.local/state/kubewire` on Linux).
pub fn state_dir() -> anyhow::Result<PathBuf> {
    kubewire_cluster::preferences::state_dir().context("no state directory for this user (HOME unset?)")
}

/// Guards against a stale pid file whose pid now belongs to another program.
#[cfg(target_os = "linux")]
pub fn is_kubewire(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("kubewire"))
        .unwrap_or(false)
}

#[cfg(not(target_os = "linux"))]
pub fn is_kubewire(_pid: i32) -> bool {
    true
}

#[cfg(unix)]
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[cfg(not(unix))]
pub fn alive(_pid: i32) -> bool {
    false
}

/// Writes this process's pid file and its connection's name beside it; removed by [`PidFile`]'s
/// drop.
#[derive(Debug)]
pub struct PidFile(super::controllers::Files);

impl PidFile {
    pub fn create(files: &super::controllers::Files, connection: &str) -> anyhow::Result<Self> {
        let path = files.pid();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(files.name(), format!("{connection}\n"))
            .with_context(|| format!("writing {}", files.name().display()))?;
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(files.clone()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(self.0.pid())
            .ok()
            .is_some_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(self.0.pid());
            let _ = std::fs::remove_file(self.0.name());
        }
    }
}

/// "12 s", "3 min", "2 h" for an age in seconds.
pub fn age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// "1.2 MiB" for a byte count.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
