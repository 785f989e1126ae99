//! A stand-alone runner of the split resolver and an OS backend, for the namespace tests, the
//! benchmark and manual trials (the daemon embeds the library instead).
//!
//! `dnsd run --zone cluster.local --cluster-dns 10.43.0.10:53 --backend resolv-conf \
//!      --resolv-conf /etc/netns/kwn-laptop/resolv.conf --backup /tmp/x/backup --state /tmp/x/state.json`
//! prints `ready <listen address>` once the OS points at it, and on SIGTERM/SIGINT reverts and exits.
//! `dnsd restore --state FILE` is the daemon's restore-at-start step on its own. Linux only.
#![cfg_attr(not(target_os = "linux"), allow(unused))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipnet::IpNet;
use kubewire_dns::os::ResolvConfPaths;
use kubewire_dns::{
    BackendKind, DnsState, OsDns, OsPaths, ResolverConfig, SplitDnsSettings, SplitResolver, restore_at_start,
};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Files {
    /// The resolv.conf to manage.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// Where its backup goes.
    #[arg(long, default_value = "/etc/resolv.pre-kubewire-backup.conf")]
    backup: PathBuf,
    /// The persisted DnsState.
    #[arg(long)]
    state: PathBuf,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the resolver and point the OS at it until SIGTERM/SIGINT.
    Run {
        #[arg(long, default_value = "cluster.local")]
        zone: String,
        #[arg(long)]
        cluster_dns: Option<SocketAddr>,
        /// Routed ranges (their reverse zones go to the cluster).
        #[arg(long = "route")]
        routes: Vec<IpNet>,
        #[arg(long, default_value = "default")]
        default_namespace: String,
        /// The cluster's namespaces, when known (then other two-label names skip the cluster).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        /// Search suffixes for the OS (default: `<ns>.svc.<zone>`, `svc.<zone>`).
        #[arg(long = "search")]
        search: Vec<String>,
        /// Upstreams (default: the original resolv.conf's nameservers in resolv-conf mode).
        #[arg(long = "upstream")]
        upstreams: Vec<SocketAddr>,
        /// Listen address (default: the backend's).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The tunnel interface.
        #[arg(long, default_value = "wg0")]
        interface: String,
        /// auto | resolved | openresolv | resolv-conf | none
        #[arg(long, default_value = "resolv-conf")]
        backend: String,
        #[arg(long)]
        no_cache: bool,
        #[command(flatten)]
        files: Files,
    },
    /// Undo what a previous run left (the daemon's restore at start).
    Restore {
        #[command(flatten)]
        files: Files,
    },
}

fn paths(files: &Files) -> OsPaths {
    OsPaths {
        resolv_conf: ResolvConfPaths {
            target: files.resolv_conf.clone(),
            backup: files.backup.clone(),
        },
        macos_resolver_dir: None,
    }
}

fn read_state(path: &PathBuf) -> Result<Option<DnsState>, Box<dyn std::error::Error>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Restore { files } => {
            let state = read_state(&files.state)?;
            restore_at_start(state.as_ref(), &paths(&files)).await?;
            let _ = std::fs::remove_file(&files.state);
            println!("restored");
            Ok(())
        }
        Command::Run {
            zone,
            cluster_dns,
            routes,
            default_namespace,
            namespaces,
            search,
            upstreams,
            listen,
            interface,
            backend,
            no_cache,
            files,
        } => {
            let paths = paths(&files);
            restore_at_start(read_state(&files.state)?.as_ref(), &paths).await?;
            let os = if backend == "auto" {
                OsDns::detect(paths).await
            } else {
                OsDns::new(BackendKind::parse(&backend).ok_or("unknown backend")?, paths)
            };
            let listen = match listen {
                Some(l) => l,
                None => os.listen_addr("127.0.0.1".parse()?),
            };
            let upstreams = if upstreams.is_empty() {
                os.upstreams(listen)?
            } else {
                upstreams
            };
            let search = if search.is_empty() {
                vec![format!("{default_namespace}.svc.{zone}"), format!("svc.{zone}")]
            } else {
                search
            };
            let config = ResolverConfig {
                listen,
                zone: zone.clone(),
                cluster_dns,
                reverse_ranges: routes.clone(),
                default_namespace: Some(default_namespace),
                namespaces: (!namespaces.is_empty()).then_some(namespaces),
                upstreams,
                cache: !no_cache,
                cluster_timeout: Duration::from_millis(400),
                upstream_timeout: Duration::from_secs(3),
            };
            let resolver = SplitResolver::start(config).await?;
            let settings = SplitDnsSettings {
                interface,
                resolver: resolver.local_addr(),
                zone,
                reverse_zones: kubewire_dns::reverse::reverse_zones(&routes)
                    .iter()
                    .map(|n| n.to_string())
                    .collect(),
                search,
            };
            let state = os.prepare(&settings)?;
            std::fs::write(&files.state, serde_json::to_vec(&state)?)?;
            os.apply(&state, &settings).await?;
            let warnings = kubewire_dns::Warnings::default();
            let watch = os
                .watch(&state, &settings, resolver.upstreams_handle(), warnings)
                .await?;
            println!("ready {}", resolver.local_addr());
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            if let Some(watch) = watch {
                watch.abort();
                let _ = watch.await;
            }
            os.revert(&state).await?;
            std::fs::remove_file(&files.state)?;
            resolver.stop().await?;
            Ok(())
        }
    }
}
