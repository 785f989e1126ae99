//! `kubewire expose PORT[:TARGET] --name NAME [-n NS]`, `kubewire unexpose NAME [-n NS]` and
//! `kubewire exposed`: cluster pods reach a server on this laptop by a Service name. The daemon
//! opens the one laptop port to the cluster (everything else stays closed), then a Service without
//! a selector and an EndpointSlice with the laptop's Kilo Peer address are applied
//! (`kubewire_cluster::expose`). Either step failing undoes the other.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context as _, bail};
use kubewire_cluster::{expose, kubeconfig};
use kubewire_ipc::{Client, ExposedPort, Protocol, Request, Response, Status};

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

/// The connection's own status: `wanted`, else the only one.
fn pick(status: &Status, wanted: Option<&str>) -> anyhow::Result<Status> {
    let all: Vec<Status> = if status.connections.is_empty() {
        status.session.iter().map(|_| status.clone()).collect()
    } else {
        status.connections.clone()
    };
    let names: Vec<String> = all.iter().filter_map(Status::connection).collect();
    match wanted {
        Some(w) => all
            .into_iter()
            .find(|s| s.connection().as_deref() == Some(w))
            .with_context(|| format!("no connection named {w} is up (connected: {})", names.join(", "))),
        None => match all.len() {
            0 => bail!("not connected: `kubewire connect` first"),
            1 => Ok(all.into_iter().next().context("one connection")?),
            _ => bail!(
                "several connections are up ({}): name one with --connection",
                names.join(", ")
            ),
        },
    }
}

async fn daemon(global: &Global, request: &Request) -> anyhow::Result<Response> {
    let mut client = Client::connect(&global.socket).await?;
    match client.request(request).await? {
        Response::Error { message, .. } => bail!("{message}"),
        other => Ok(other),
    }
}

async fn status(global: &Global) -> anyhow::Result<Status> {
    match daemon(global, &Request::Status).await? {
        Response::Status { status } => Ok(*status),
        other => bail!("unexpected answer from kubewired: {other:?}"),
    }
}

/// What a local TCP server looks like from here: warnings when the cluster could not reach it.
fn listener_warning(target: u16, address: IpAddr) -> Option<String> {
    let timeout = Duration::from_millis(300);
    let on = |ip: IpAddr| TcpStream::connect_timeout(&SocketAddr::new(ip, target), timeout).is_ok();
    match (on(address), on(IpAddr::V4(Ipv4Addr::LOCALHOST))) {
        (true, _) => None,
        (false, true) => Some(format!(
            "a server listens on 127.0.0.1:{target} only: the cluster reaches this laptop at {address}; \
             make it listen on 0.0.0.0 (or {address})"
        )),
        (false, false) => Some(format!(
            "nothing listens on TCP port {target} on this laptop yet: the Service is created anyway; \
             start your server on 0.0.0.0:{target}"
        )),
    }
}

async fn cluster_client(
    kubeconfig_path: Option<&std::path::Path>,
    connection: &Status,
) -> anyhow::Result<(kubeconfig::ClusterClient, String)> {
    let session = connection
        .session
        .clone()
        .context("the connection has no session")?;
    let loaded = kubeconfig::load(kubeconfig_path)?;
    let cluster = loaded.client(Some(&session.context)).await?;
    if cluster.server.trim_end_matches('/') != session.cluster.trim_end_matches('/') {
        bail!(
            "the kubeconfig's context {} points at {}, but the connection is to {}",
            session.context,
            cluster.server,
            session.cluster
        );
    }
    Ok((cluster, session.peer_name))
}

async fn run_expose(args: &ExposeArgs, global: &Global) -> anyhow::Result<()> {
    let connection = pick(&status(global).await?, args.connection.as_deref())?;
    let name = connection.connection().context("the connection has no name")?;
    let address = connection
        .address
        .context("the connection has no tunnel address")?
        .addr();
    let (port, target) = args.ports;
    if args.protocol == Protocol::Tcp
        && let Some(warning) = listener_warning(target, address)
    {
        eprintln!("warning: {warning}");
    }
    let (client, peer) = cluster_client(args.kubeconfig.as_deref(), &connection).await?;
    let service = format!("{}/{}", args.namespace, args.name);
    let opened = ExposedPort {
        protocol: args.protocol,
        port: target,
        service: service.clone(),
    };
    daemon(
        global,
        &Request::Expose {
            name: Some(name.clone()),
            port: opened,
        },
    )
    .await?;
    let exposure = expose::Exposure {
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        port,
        target,
        protocol: args.protocol,
        address,
        peer,
    };
    let cluster_ip = match expose::apply(&client.client, &exposure).await {
        Ok(ip) => ip,
        Err(e) => {
            // Nothing half done: the port closes again.
            let _ = daemon(
                global,
                &Request::Unexpose {
                    name: Some(name),
                    service,
                },
            )
            .await;
            return Err(e.into());
        }
    };
    println!(
        "exposed {address}:{target}/{} as {}.{}.svc:{port} (ClusterIP {}); pods in the cluster reach it \
         by that name. `kubewire unexpose {} -n {}` closes it again.",
        args.protocol.as_str(),
        args.name,
        args.namespace,
        cluster_ip.as_deref().unwrap_or("pending"),
        args.name,
        args.namespace
    );
    Ok(())
}

async fn run_unexpose(args: &UnexposeArgs, global: &Global) -> anyhow::Result<()> {
    let connection = pick(&status(global).await?, args.connection.as_deref())?;
    let name = connection.connection().context("the connection has no name")?;
    let service = format!("{}/{}", args.namespace, args.name);
    let (client, _) = cluster_client(args.kubeconfig.as_deref(), &connection).await?;
    let found = expose::delete(&client.client, &args.namespace, &args.name).await?;
    daemon(
        global,
        &Request::Unexpose {
            name: Some(name),
            service: service.clone(),
        },
    )
    .await?;
    if found {
        println!("{service} removed; its laptop port is closed to the cluster again");
    } else {
        println!("no Service {service} in the cluster; its laptop port (if any) is closed again");
    }
    Ok(())
}

async fn run_exposed(args: &ExposedArgs, global: &Global) -> anyhow::Result<()> {
    let status = status(global).await?;
    let all: Vec<Status> = if status.connections.is_empty() {
        status.session.iter().map(|_| status.clone()).collect()
    } else {
        status.connections.clone()
    };
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
