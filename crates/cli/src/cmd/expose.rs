//! `kubewire expose PORT[:TARGET] --name NAME [-n NS]`, `kubewire unexpose NAME [-n NS]` and
//! `kubewire exposed`: cluster pods reach a server on this laptop by a Service name. The daemon
//! opens the one laptop port to the cluster (everything else stays closed), then a Service without
//! a selector and an EndpointSlice with the laptop's Kilo Peer address are applied
//! (`kubewire_cluster::exposing`, which the tray app runs too). Either step failing undoes the other.

use kubewire_cluster::exposing;
use kubewire_ipc::{ExposedPort, Protocol};

use super::Global;

pub const LONG_ABOUT: &str = "\
Let pods in the cluster reach a server running on this laptop (under a debugger, with hot reload), by \
a Service name, with no agent in the cluster: a Service without a selector and an EndpointSlice that \
points at the laptop's Kilo Peer address (Kilo routes it to every node). Only the exposed ports are \
reachable from the cluster; every other port of the laptop stays closed to it. `kubewire unexpose` and \
`kubewire disconnect` remove the Service again.

The server must listen on the laptop's tunnel address or on all addresses (0.0.0.0), not on 127.0.0.1 \
only: expose warns when it finds it listening on loopback only, or not at all.

Examples:
  kubewire expose 8080 --name laptop-api -n default
      pods reach it as http://laptop-api.default.svc.cluster.local:8080/
  kubewire expose 80:3000 --name web-dev
      port 80 of the Service, port 3000 on the laptop
  kubewire exposed
  kubewire unexpose laptop-api -n default";

/// `PORT` or `PORT:TARGET`.
fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let port = |s: &str| match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{s:?} is not a port (1-65535)")),
        Ok(p) => Ok(p),
    };
    match text.split_once(':') {
        Some((a, b)) => Ok((port(a)?, port(b)?)),
        None => port(text).map(|p| (p, p)),
    }
}

/// Arguments of `kubewire expose`.
#[derive(Debug, clap::Args)]
pub struct ExposeArgs {
    /// The Service's port, and the laptop's when it differs: 8080, or 80:3000.
    #[arg(value_name = "PORT[:TARGET]", value_parser = parse_ports)]
    pub ports: (u16, u16),
    /// The Service's name (a DNS label).
    #[arg(long)]
    pub name: String,
    /// The Service's namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub protocol: Protocol,
    /// The connection to expose through (see `kubewire status`); the only one by default.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// The kubeconfig (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// Arguments of `kubewire unexpose`.
#[derive(Debug, clap::Args)]
pub struct UnexposeArgs {
    /// The Service's name.
    pub name: String,
    /// The Service's namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// The connection it was exposed through; the only one by default.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// The kubeconfig (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// Arguments of `kubewire exposed`.
#[derive(Debug, clap::Args)]
pub struct ExposedArgs {
    /// JSON: {"exposed": [{"connection", "service", "port", "protocol"}]}.
    #[arg(long)]
    pub json: bool,
}

/// The error with its cause visible to the exit code (the daemon's and the cluster's codes).
fn surfaced(e: exposing::ExposeError) -> anyhow::Error {
    match e {
        exposing::ExposeError::Cluster(kubewire_cluster::error::ClusterError::Daemon(d)) => d.into(),
        exposing::ExposeError::Cluster(c) => c.into(),
        other => other.into(),
    }
}

async fn run_expose(args: &ExposeArgs, global: &Global) -> anyhow::Result<()> {
    let (port, target) = args.ports;
    let request = exposing::ExposeRequest {
        port,
        target,
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        protocol: args.protocol,
        connection: args.connection.clone(),
        kubeconfig: args.kubeconfig.clone(),
    };
    let done = exposing::expose(&global.socket, &request)
        .await
        .map_err(surfaced)?;
    if let Some(warning) = &done.warning {
        eprintln!("warning: {warning}");
    }
    println!(
        "exposed {}:{target}/{} as {}.{}.svc:{port} (ClusterIP {}); pods in the cluster reach it \
         by that name. `kubewire unexpose {} -n {}` closes it again.",
        done.address,
        args.protocol.as_str(),
        args.name,
        args.namespace,
        done.cluster_ip.as_deref().unwrap_or("pending"),
        args.name,
        args.namespace
    );
    Ok(())
}

async fn run_unexpose(args: &UnexposeArgs, global: &Global) -> anyhow::Result<()> {
    let found = exposing::unexpose(
        &global.socket,
        &args.namespace,
        &args.name,
        args.connection.as_deref(),
        args.kubeconfig.as_deref(),
    )
    .await
    .map_err(surfaced)?;
    let service = format!("{}/{}", args.namespace, args.name);
    if found {
        println!("{service} removed; its laptop port is closed to the cluster again");
    } else {
        println!("no Service {service} in the cluster; its laptop port (if any) is closed again");
    }
    Ok(())
}

async fn run_exposed(args: &ExposedArgs, global: &Global) -> anyhow::Result<()> {
    let all = exposing::connections(&exposing::status(&global.socket).await.map_err(surfaced)?);
    let rows: Vec<(String, &ExposedPort)> = all
        .iter()
        .flat_map(|s| {
            let name = s.connection().unwrap_or_default();
            s.exposed.iter().map(move |p| (name.clone(), p))
        })
        .collect();
    if args.json {
        let exposed: Vec<serde_json::Value> = rows
            .iter()
            .map(|(c, p)| {
                serde_json::json!({"connection": c, "service": p.service, "port": p.port, "protocol": p.protocol})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "exposed": exposed }))?
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("nothing exposed (`kubewire expose PORT --name NAME` exposes a laptop port)");
        return Ok(());
    }
    println!("{:<32} {:<12} CONNECTION", "SERVICE", "LAPTOP PORT");
    for (connection, p) in rows {
        println!(
            "{:<32} {:<12} {connection}",
            p.service,
            format!("{}/{}", p.port, p.protocol.as_str())
        );
    }
    Ok(())
}

/// Runs `kubewire expose`.
pub fn run_expose_cmd(args: &ExposeArgs, global: &Global) -> anyhow::Result<()> {
    super::common::runtime()?.block_on(run_expose(args, global))
}

/// Runs `kubewire unexpose`.
pub fn run_unexpose_cmd(args: &UnexposeArgs, global: &Global) -> anyhow::Result<()> {
    super::common::runtime()?.block_on(run_unexpose(args, global))
}

/// Runs `kubewire exposed`.
pub fn run_exposed_cmd(args: &ExposedArgs, global: &Global) -> anyhow::Result<()> {
    super::common::runtime()?.block_on(run_exposed(args, global))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_port_or_port_colon_target() {
        assert_eq!(parse_ports("8080"), Ok((8080, 8080)));
        assert_eq!(parse_ports("80:3000"), Ok((80, 3000)));
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("80:").is_err());
        assert!(parse_ports("70000").is_err());
        assert!(parse_ports("http").is_err());
    }
}
