//! `kubewire plan`: the Plan from saved snapshot files, rendered as wg-quick, JSON or DOT.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use ipnet::IpNet;
use kubewire_core::render::{dot, json, wg_quick};
use kubewire_core::{GranularitySetting, PlanError, PlanRequest, PrivateKey, PublicKey, Snapshot, plan};

use crate::output::{self, BadInput};

pub const LONG_ABOUT: &str = "\
Compute the laptop's connection plan from a saved cluster snapshot: one WireGuard peer per Kilo \
segment (its leader's key and endpoint, the segment's AllowedIPs exactly as Kilo computes them), the \
other dialable Kilo Peers, the service CIDR on one segment (the service gateway), the laptop's address, \
routes and cluster DNS. No cluster access and no root needed.

Save a snapshot with:
  kubectl get nodes,peers.kilo.squat.ai,services -A -o yaml > cluster.yaml

Ranges that would hijack the laptop (default routes, anything broader than /8, loopback, link-local, \
multicast, public ranges not allowed with --allow-public-range, the laptop's own networks given with \
--local-route) are refused: left out and reported. The laptop's address must be a private-use address \
outside the --local-route networks and inside the cluster's Kilo subnet, and the DNS zone a plausible \
cluster domain (not a public suffix such as com or co.uk): otherwise no plan is printed and the error \
names the culprit. Warnings, refusals and skipped objects go to stderr; the plan goes to stdout.

Examples:
  # The wg-quick file for this laptop, the service CIDR routed through node aws
  kubewire plan --snapshot cluster.yaml --public-key \"$(cat laptop.pub)\" \\
      --peer-name dev-laptop --service-cidr 10.43.0.0/16 --service-gateway aws

  # The whole plan as JSON, refusing anything that overlaps the home network
  kubewire plan --snapshot cluster.yaml --public-key \"$(cat laptop.pub)\" \\
      --local-route 192.168.1.0/24 --format json

  # The topology as a picture
  kubewire plan --snapshot cluster.yaml --public-key \"$(cat laptop.pub)\" --format dot | dot -Tsvg > mesh.svg

Exit status: 0 plan printed, 1 no plan possible (e.g. no ready node), 2 bad arguments or bad snapshot.";

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A wg-quick configuration file.
    WgQuick,
    /// The whole Plan as JSON (schema: crates/core/docs/plan-json.md).
    Json,
    /// The topology as GraphViz DOT.
    Dot,
}

/// Mesh granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GranularityArg {
    /// Read it from the nodes' kilo.squat.ai/granularity annotation.
    Auto,
    /// One segment per location.
    Location,
    /// One segment per node.
    Full,
}

/// Arguments of `kubewire plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// A Kubernetes List (YAML or JSON) of Nodes, Kilo Peers and Services; may be repeated.
    #[arg(long, value_name = "FILE", required = true)]
    snapshot: Vec<PathBuf>,
    /// The laptop's WireGuard public key (base64 of 32 bytes).
    #[arg(long, value_name = "KEY", value_parser = parse_public_key)]
    public_key: PublicKey,
    /// A file holding the laptop's private key; written into the wg-quick output only.
    #[arg(long, value_name = "FILE")]
    private_key_file: Option<PathBuf>,
    /// The name of the laptop's Kilo Peer (left out of the plan, as is any Peer with its key).
    #[arg(long, value_name = "NAME")]
    peer_name: Option<String>,
    /// The laptop's address (default: its Peer's address, else one chosen in the Kilo subnet).
    #[arg(long, value_name = "CIDR")]
    address: Option<IpNet>,
    /// The cluster's service CIDR, routed through the service gateway; may be repeated.
    #[arg(long, value_name = "CIDR")]
    service_cidr: Vec<IpNet>,
    /// Route the service CIDR through this node's segment.
    #[arg(long, value_name = "NODE")]
    service_gateway: Option<String>,
    /// Kilo's mesh granularity.
    #[arg(long, value_enum, default_value = "auto")]
    granularity: GranularityArg,
    /// The node label holding the location (Kilo's --topology-label).
    #[arg(long, value_name = "LABEL", default_value = kubewire_core::model::DEFAULT_TOPOLOGY_LABEL)]
    topology_label: String,
    /// One of the laptop's own networks: overlapping ranges are refused; may be repeated.
    #[arg(long, value_name = "CIDR")]
    local_route: Vec<IpNet>,
    /// "Now" for node readiness, in Unix seconds (default: this machine's clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<i64>,
    /// Interface MTU written to the file (`kubewire connect` follows the underlay instead, unless given
    /// `--mtu`).
    #[arg(long, default_value_t = 1420, value_parser = clap::value_parser!(u16).range(576..=9000))]
    mtu: u16,
    /// Persistent keepalive towards every peer, in seconds (0 = off).
    #[arg(long, value_name = "SECONDS", default_value_t = 25)]
    persistent_keepalive: u16,
    /// The cluster DNS zone.
    #[arg(long, value_name = "ZONE", default_value = "cluster.local")]
    dns_zone: String,
    /// The namespace of the first DNS search suffix.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// A public (not private-use) range the cluster may route into the tunnel; may be repeated. By
    /// default only private-use ranges are routed (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
    /// 100.64.0.0/10, fc00::/7): a public range a node, a Peer or a ServiceCIDR asks for is left out with
    /// a warning naming it. At most /8 (IPv6 /16) each; loopback, link-local and multicast never.
    #[arg(long, value_name = "CIDR", value_parser = kubewire_core::check::scope::parse_allowed_range)]
    allow_public_range: Vec<IpNet>,
    /// Output format.
    #[arg(long, value_enum, default_value = "wg-quick")]
    format: Format,
}

fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    text.parse()
        .map_err(|e| format!("not a WireGuard public key: {e}"))
}

fn read_snapshots(paths: &[PathBuf]) -> anyhow::Result<Snapshot> {
    let mut snapshot = Snapshot::new();
    let mut problems = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match Snapshot::parse(&text) {
            Ok(parsed) => snapshot.merge(parsed),
            Err(errors) => problems.extend(errors.iter().map(|e| format!("{}: {e}", path.display()))),
        }
    }
    if problems.is_empty() {
        Ok(snapshot)
    } else {
        Err(BadInput(problems).into())
    }
}

fn read_private_key(path: &PathBuf) -> anyhow::Result<PrivateKey> {
    let text =
        std::fs::read_to_string(path).map_err(|e| BadInput(vec![format!("{}: {e}", path.display())]))?;
    text.trim().parse().map_err(|e| {
        BadInput(vec![format!(
            "{}: not a WireGuard private key: {e}",
            path.display()
        )])
        .into()
    })
}

fn request(args: &PlanArgs) -> PlanRequest {
    let mut request = PlanRequest::new(args.public_key);
    request.peer_name.clone_from(&args.peer_name);
    request.address = args.address;
    request.local_networks.clone_from(&args.local_route);
    let s = &mut request.settings;
    s.granularity = match args.granularity {
        GranularityArg::Auto => GranularitySetting::Auto,
        GranularityArg::Location => GranularitySetting::Location,
        GranularityArg::Full => GranularitySetting::Full,
    };
    s.topology_label.clone_from(&args.topology_label);
    s.service_cidrs.clone_from(&args.service_cidr);
    s.service_gateway.clone_from(&args.service_gateway);
    s.mtu = Some(args.mtu);
    s.persistent_keepalive = args.persistent_keepalive;
    s.dns_zone.clone_from(&args.dns_zone);
    s.namespace.clone_from(&args.namespace);
    s.allowed_public_ranges.clone_from(&args.allow_public_range);
    request
}

/// Runs `kubewire plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let snapshot = read_snapshots(&args.snapshot)?;
    let private_key = args.private_key_file.as_ref().map(read_private_key).transpose()?;
    let now = match args.now {
        Some(now) => now,
        None => {
            let since = kubewire_ipc::time::now_secs();
            anyhow::ensure!(since > 0, "the clock is before 1970");
            i64::try_from(since).context("the clock is too far ahead")?
        }
    };
    tracing::debug!(nodes = snapshot.node_count(), now, "planning");
    let plan = match plan(&snapshot, &request(args), now) {
        Ok(plan) => plan,
        Err(PlanError::NoReadyNodes { total, skipped }) => {
            for s in &skipped {
                eprintln!("note: {s}");
            }
            anyhow::bail!(
                "none of the {total} nodes is a ready Kilo node (now = {now}; see the notes above)"
            );
        }
        Err(e) => return Err(e.into()),
    };
    output::warnings(&plan);
    let rendered = match args.format {
        Format::WgQuick => wg_quick::render(&plan, private_key.as_ref()),
        Format::Json => json::render(&plan).context("rendering the plan as JSON")?,
        Format::Dot => dot::render(&plan),
    };
    if private_key.is_some() && args.format != Format::WgQuick {
        eprintln!("warning: --private-key-file is only used by --format wg-quick");
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing the plan")?;
    stdout.flush().context("writing the plan")?;
    Ok(())
}
