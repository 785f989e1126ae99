//! The resolver answering containers: one more UDP and TCP listener on a container bridge's gateway
//! address (`172.17.0.1:53` on `docker0`), sharing the resolver's engine (the same routing rule,
//! cache and upstreams as the laptop's own queries), and answering only sources inside the bridge's
//! subnet ([`super::source::Allowed::Subnet`]): any other source gets no answer at all.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use ipnet::Ipv4Net;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tracing::info;

use super::engine::Engine;
use super::source::Allowed;
use super::{SplitResolver, tcp, udp};
use crate::DnsError;

/// A running bridge listener. [`BridgeListener::stop`] it; dropping it stops it too (abruptly).
#[derive(Debug)]
pub struct BridgeListener {
    udp: JoinHandle<()>,
    tcp: JoinHandle<()>,
    listen: SocketAddr,
    subnet: Ipv4Net,
}

impl Drop for BridgeListener {
    fn drop(&mut self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

impl BridgeListener {
    /// Where it listens.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The sources it answers.
    #[must_use]
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// Stop answering and close the sockets (ended, not only told to end).
    pub async fn stop(mut self) {
        self.udp.abort();
        self.tcp.abort();
        let _ = (&mut self.udp).await;
        let _ = (&mut self.tcp).await;
        info!(listen = %self.listen, "container DNS listener stopped");
    }
}

/// What a bridge listener needs of a running resolver (its engine): cheap to clone and `'static`,
/// so listeners can be started on another task or runtime.
#[derive(Clone)]
pub struct BridgeStarter {
    engine: Arc<RwLock<Arc<Engine>>>,
}

impl std::fmt::Debug for BridgeStarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeStarter").finish_non_exhaustive()
    }
}

impl SplitResolver {
    /// Starts listeners for container bridges that share this resolver's engine.
    #[must_use]
    pub fn bridge_starter(&self) -> BridgeStarter {
        BridgeStarter {
            engine: Arc::clone(&self.engine),
        }
    }

    /// [`BridgeStarter::listen`] on this resolver.
    pub async fn listen_bridge(
        &self,
        listen: SocketAddr,
        subnet: Ipv4Net,
    ) -> Result<BridgeListener, DnsError> {
        self.bridge_starter().listen(listen, subnet).await
    }
}

impl BridgeStarter {
    /// Also answer on `listen` (a bridge's gateway address, port 53 or 0 in tests), for sources in
    /// `subnet` only. `listen` must be an address inside `subnet`. Must run inside a tokio runtime.
    pub async fn listen(&self, listen: SocketAddr, subnet: Ipv4Net) -> Result<BridgeListener, DnsError> {
        let inside = match listen.ip() {
            IpAddr::V4(v4) => subnet.contains(&v4) && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        };
        if !inside {
            return Err(DnsError::Config(format!(
                "a container listener must be on an IPv4 address of its bridge's subnet {subnet}, not {listen}"
            )));
        }
        let bind_err = |source| DnsError::Bind { addr: listen, source };
        let udp = UdpSocket::bind(listen).await.map_err(bind_err)?;
        let listen = udp.local_addr().map_err(bind_err)?;
        let tcp = TcpListener::bind(listen).await.map_err(bind_err)?;
        let allowed = Allowed::Subnet(subnet.trunc());
        let udp = tokio::spawn(udp::serve(Arc::new(udp), Arc::clone(&self.engine), allowed));
        let tcp = tokio::spawn(tcp::serve(tcp, Arc::clone(&self.engine), allowed));
        info!(%listen, %subnet, "container DNS listener started");
        Ok(BridgeListener {
            udp,
            tcp,
            listen,
            subnet,
        })
    }
}
