//! `kubewire-lab`: a multi-cloud k3s + Kilo cluster in network namespaces, for kubewire's tests and demo.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kubewire_lab::clusters::{ClusterId, MAX_CLUSTERS};
use kubewire_lab::control::{self, Request};
use kubewire_lab::model::{Granularity, LabSpec};
use kubewire_lab::{controller, pod_http};

mod lifecycle;

/// The kubewire lab: a k3s + Kilo cluster of four clouds (aws, azure, gcp, aliyun) built from network
/// namespaces, userspace WireGuard and a Kubernetes-API test server, with a laptop namespace (`kw-laptop`)
/// on the same "internet". Needs root. Described for tests in `<dir>/lab.json`.
#[derive(Parser)]
#[command(version, after_long_help = EXAMPLES)]
struct Cli {
    /// Where the lab keeps its files (kubeconfig, lab.json, logs, control socket).
    #[arg(long, global = true, env = "KUBEWIRE_LAB_DIR", default_value = "target/lab")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  kubewire-lab up                                 # four clouds, one node each
  kubewire-lab up --nodes-per-location 2          # leaders and members on location LANs
  kubewire-lab up --clusters 2                    # a second cluster b (b-aws, ...), same ranges
  kubectl --kubeconfig target/lab/kubeconfig get nodes -o wide
  kubewire-lab node add ovh --location ovh        # a new cloud joins
  kubewire-lab node set-endpoint gcp 192.0.2.50   # a VM gets a new public IP
  kubewire-lab node stale azure                   # last-seen stops: Kilo drops the node
  kubewire-lab service add com github 10.43.0.66  # a hostile cluster: github.com.svc.cluster.local
  kubewire-lab api stop && kubewire-lab api start
  kubewire-lab node add b-ovh --location ovh --cluster b   # a change in cluster b
  kubewire-lab down";

#[derive(Subcommand)]
enum Command {
    /// Build the lab and start its controller in the background (cleans up a crashed lab first).
    Up {
        #[arg(long, value_enum, default_value = "location")]
        granularity: Granularity,
        /// Nodes per location; more than one gives segments with a leader and members.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
        nodes_per_location: u8,
        /// Locations (one cloud each).
        #[arg(long, value_delimiter = ',', default_value = "aws,azure,gcp,aliyun")]
        locations: Vec<String>,
        /// Clusters: 2 adds cluster b (context `kubewire-lab-b`, nodes b-<location>) with the same
        /// ranges and domain as a, its own API server (127.0.0.1:6444) and DNS.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_CLUSTERS)))]
        clusters: u8,
    },
    /// Tear the lab down and check that nothing is left behind.
    Down,
    /// Show the running lab (or what is left of a dead one).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Change a node.
    Node {
        /// The cluster (`b` with `up --clusters 2`).
        #[arg(long, global = true, default_value = "a")]
        cluster: ClusterId,
        #[command(subcommand)]
        action: NodeAction,
    },
    /// Add or remove a Service (backed by web's pods; DNS records, kube-proxy rules, API objects).
    Service {
        /// The cluster (`b` with `up --clusters 2`).
        #[arg(long, global = true, default_value = "a")]
        cluster: ClusterId,
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Stop or start the API server (the network stays up).
    Api {
        /// The cluster (`b` with `up --clusters 2`).
        #[arg(long, global = true, default_value = "a")]
        cluster: ClusterId,
        #[command(subcommand)]
        action: ApiAction,
    },
    /// Run the lab controller in the foreground (what `up` starts).
    #[command(hide = true)]
    Run {
        #[arg(long, value_enum, default_value = "location")]
        granularity: Granularity,
        #[arg(long, default_value_t = 1)]
        nodes_per_location: u8,
        #[arg(long, value_delimiter = ',', default_value = "aws,azure,gcp,aliyun")]
        locations: Vec<String>,
        #[arg(long, default_value_t = 1)]
        clusters: u8,
    },
    /// A pod's HTTP server that answers with the pod's name.
    #[command(hide = true)]
    PodHttp {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: SocketAddr,
    },
}

#[derive(Subcommand)]
enum NodeAction {
    /// A new node joins (a new location gets its own LAN).
    Add {
        name: String,
        #[arg(long)]
        location: String,
    },
    /// A node leaves the cluster.
    Remove { name: String },
    /// A node's public address changes to IP (192.0.2.10-199).
    SetEndpoint { name: String, ip: Ipv4Addr },
    /// Stop refreshing last-seen: the node is no longer ready and leaves the mesh.
    Stale { name: String },
    /// Refresh last-seen again.
    Fresh { name: String },
    /// Annotate the node as its location's leader.
    Leader { name: String },
}

#[derive(Subcommand)]
enum ServiceAction {
    /// A ClusterIP Service NAMESPACE/NAME at IP (10.43.0.0/16), its Namespace created if needed.
    Add {
        namespace: String,
        name: String,
        ip: Ipv4Addr,
    },
    /// Remove a Service added with `service add`.
    Remove { namespace: String, name: String },
}

#[derive(Subcommand)]
enum ApiAction {
    Stop,
    Start,
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kubewire-lab: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBEWIRE_LAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn,rustls=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let dir = std::path::absolute(&cli.dir).context("lab directory")?;
    match cli.command {
        Command::Up {
            granularity,
            nodes_per_location,
            locations,
            clusters,
        } => {
            let spec = LabSpec {
                granularity,
                nodes_per_location,
                locations,
                clusters,
            };
            lifecycle::up(&dir, &spec)
        }
        Command::Down => lifecycle::down(&dir),
        Command::Status { json } => lifecycle::status(&dir, json),
        Command::Node { cluster, action } => {
            let request = match action {
                NodeAction::Add { name, location } => Request::AddNode { name, location },
                NodeAction::Remove { name } => Request::RemoveNode { name },
                NodeAction::SetEndpoint { name, ip } => Request::SetEndpoint { name, ip },
                NodeAction::Stale { name } => Request::SetReady { name, ready: false },
                NodeAction::Fresh { name } => Request::SetReady { name, ready: true },
                NodeAction::Leader { name } => Request::SetLeader { name },
            };
            ask(&dir, &request.in_cluster(cluster))
        }
        Command::Service { cluster, action } => {
            let request = match action {
                ServiceAction::Add { namespace, name, ip } => Request::AddService {
                    namespace,
                    name,
                    cluster_ip: ip,
                },
                ServiceAction::Remove { namespace, name } => Request::RemoveService { namespace, name },
            };
            ask(&dir, &request.in_cluster(cluster))
        }
        Command::Api { cluster, action } => {
            let request = match action {
                ApiAction::Stop => Request::ApiStop,
                ApiAction::Start => Request::ApiStart,
            };
            ask(&dir, &request.in_cluster(cluster))
        }
        Command::Run {
            granularity,
            nodes_per_location,
            locations,
            clusters,
        } => {
            let spec = LabSpec {
                granularity,
                nodes_per_location,
                locations,
                clusters,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(controller::run(&dir, &spec))
                .context("lab controller")
        }
        Command::PodHttp { name, listen } => {
            pod_http::serve(&name, listen).with_context(|| format!("pod server {name} on {listen}"))
        }
    }
}

fn ask(dir: &std::path::Path, request: &Request) -> Result<()> {
    let response = control::send(&dir.join("control.sock"), request, Duration::from_secs(60))?;
    if !response.ok {
        bail!("{}", response.message);
    }
    println!("{}", response.message);
    Ok(())
}
