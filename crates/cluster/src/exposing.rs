//! The whole of an expose or unexpose, as the CLI and the tray app run it: the connection from the
//! daemon's status, a look at the local server, the daemon opening (or closing) the one laptop port,
//! and the cluster's Service and EndpointSlice ([`crate::expose`]). Either side failing undoes the
//! other: nothing is left half done.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubewire_ipc::{Client, ExposedPort, Protocol, Request, Response, Status};

use crate::error::ClusterError;
use crate::expose::{self, Exposure};
use crate::kubeconfig::{self, ClusterClient};

/// What to expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposeRequest {
    /// The Service's port.
    pub port: u16,
    /// The laptop's port.
    pub target: u16,
    pub name: String,
    pub namespace: String,
    pub protocol: Protocol,
    /// The connection (see `status`); the only one when `None`.
    pub connection: Option<String>,
    pub kubeconfig: Option<PathBuf>,
}

/// What an expose did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// The laptop's tunnel address.
    pub address: IpAddr,
    pub cluster_ip: Option<String>,
    /// Why the cluster may not reach the server yet (nothing listening, loopback only).
    pub warning: Option<String>,
}

/// Why an expose or unexpose did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExposeError {
    #[error("not connected: `kubewire connect` first")]
    NotConnected,
    #[error("several connections are up ({}): name one with --connection", .0.join(", "))]
    WhichConnection(Vec<String>),
    #[error("no connection named {name} is up (connected: {})", .up.join(", "))]
    NoSuchConnection { name: String, up: Vec<String> },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Every connection's own status.
#[must_use]
pub fn connections(status: &Status) -> Vec<Status> {
    if status.connections.is_empty() {
        status.session.iter().map(|_| status.clone()).collect()
    } else {
        status.connections.clone()
    }
}

/// The connection `wanted`, else the only one.
pub fn pick(status: &Status, wanted: Option<&str>) -> Result<Status, ExposeError> {
    let all = connections(status);
    let names: Vec<String> = all.iter().filter_map(Status::connection).collect();
    match wanted {
        Some(w) => all
            .into_iter()
            .find(|s| s.connection().as_deref() == Some(w))
            .ok_or_else(|| ExposeError::NoSuchConnection {
                name: w.to_owned(),
                up: names,
            }),
        None => {
            if all.len() > 1 {
                return Err(ExposeError::WhichConnection(names));
            }
            all.into_iter().next().ok_or(ExposeError::NotConnected)
        }
    }
}

async fn daemon(socket: &Path, request: &Request) -> Result<Response, ExposeError> {
    let mut client = Client::connect(socket).await.map_err(ClusterError::from)?;
    match client.request(request).await.map_err(ClusterError::from)? {
        Response::Error { message, .. } => Err(ExposeError::Refused(message)),
        other => Ok(other),
    }
}

/// The daemon's status.
pub async fn status(socket: &Path) -> Result<Status, ExposeError> {
    match daemon(socket, &Request::Status).await? {
        Response::Status { status } => Ok(*status),
        _ => Err(ExposeError::Refused(
            "kubewired answered something else than its status".into(),
        )),
    }
}

/// Why the cluster could not reach a TCP server on `target` of the laptop at `address`, if so.
#[must_use]
pub fn listener_warning(target: u16, address: IpAddr) -> Option<String> {
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

/// The API client of the connection's cluster, and its Peer's name.
async fn cluster_of(
    kubeconfig_path: Option<&Path>,
    connection: &Status,
) -> Result<(ClusterClient, String), ExposeError> {
    let session = connection.session.clone().ok_or(ExposeError::NotConnected)?;
    let loaded = kubeconfig::load(kubeconfig_path)?;
    let cluster = loaded.client(Some(&session.context)).await?;
    if cluster.server.trim_end_matches('/') != session.cluster.trim_end_matches('/') {
        return Err(ExposeError::Refused(format!(
            "the kubeconfig's context {} points at {}, but the connection is to {}",
            session.context, cluster.server, session.cluster
        )));
    }
    Ok((cluster, session.peer_name))
}

/// Exposes one laptop port.
pub async fn expose(socket: &Path, request: &ExposeRequest) -> Result<Exposed, ExposeError> {
    let connection = pick(&status(socket).await?, request.connection.as_deref())?;
    let name = connection.connection().ok_or(ExposeError::NotConnected)?;
    let address = connection.address.ok_or(ExposeError::NotConnected)?.addr();
    let warning = (request.protocol == Protocol::Tcp)
        .then(|| listener_warning(request.target, address))
        .flatten();
    let (cluster, peer) = cluster_of(request.kubeconfig.as_deref(), &connection).await?;
    let service = format!("{}/{}", request.namespace, request.name);
    let port = ExposedPort {
        protocol: request.protocol,
        port: request.target,
        service: service.clone(),
    };
    daemon(
        socket,
        &Request::Expose {
            name: Some(name.clone()),
            port,
        },
    )
    .await?;
    let exposure = Exposure {
        namespace: request.namespace.clone(),
        name: request.name.clone(),
        port: request.port,
        target: request.target,
        protocol: request.protocol,
        address,
        peer,
    };
    match expose::apply(&cluster.client, &exposure).await {
        Ok(cluster_ip) => Ok(Exposed {
            address,
            cluster_ip,
            warning,
        }),
        Err(e) => {
            // Nothing half done: the port closes again.
            let _ = daemon(
                socket,
                &Request::Unexpose {
                    name: Some(name),
                    service,
                },
            )
            .await;
            Err(e.into())
        }
    }
}

/// Removes the Service `namespace/name` and closes its laptop port; whether the Service was there.
pub async fn unexpose(
    socket: &Path,
    namespace: &str,
    name: &str,
    connection: Option<&str>,
    kubeconfig_path: Option<&Path>,
) -> Result<bool, ExposeError> {
    let chosen = pick(&status(socket).await?, connection)?;
    let connection_name = chosen.connection().ok_or(ExposeError::NotConnected)?;
    let (cluster, _) = cluster_of(kubeconfig_path, &chosen).await?;
    let found = expose::delete(&cluster.client, namespace, name).await?;
    daemon(
        socket,
        &Request::Unexpose {
            name: Some(connection_name),
            service: format!("{namespace}/{name}"),
        },
    )
    .await?;
    Ok(found)
}
