//! The split resolver: a server of its own (UDP and TCP loops, hickory-proto messages) on the laptop that sends cluster names (and the reverse zones
//! of the routed ranges) to the cluster DNS through the tunnel and, in resolv.conf mode, every other
//! name to the original nameservers unchanged.

mod answers;
mod bridge;
pub mod domain_probe;
mod engine;
mod forwarder;
pub mod fuzzing;
mod inflight;
mod packets;
mod source;
mod tcp;
mod udp;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::DnsError;
use crate::config::ResolverConfig;
pub use bridge::{BridgeListener, BridgeStarter};
use engine::Engine;
use source::Allowed;

/// The running resolver. [`SplitResolver::stop`] it; dropping it stops it too (abruptly).
pub struct SplitResolver {
    engine: Arc<RwLock<Arc<Engine>>>,
    /// Our own UDP loop (see [`udp`]).
    udp: JoinHandle<()>,
    /// Our own TCP loop, with its limits (see [`tcp`]).
    tcp: JoinHandle<()>,
    listen: SocketAddr,
    /// Shared with [`UpstreamsHandle`]s, which change only the upstreams.
    config: Arc<Mutex<ResolverConfig>>,
}

/// Changes the upstreams of a running resolver from elsewhere (resolv.conf mode: someone else
/// rewrote the file and named other nameservers). Cheap to clone; outlives nothing it needs.
#[derive(Clone)]
pub struct UpstreamsHandle {
    engine: Arc<RwLock<Arc<Engine>>>,
    config: Arc<Mutex<ResolverConfig>>,
}

impl std::fmt::Debug for UpstreamsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamsHandle").finish_non_exhaustive()
    }
}

impl UpstreamsHandle {
    /// Forward non-cluster names to `upstreams` from now on (the cache starts empty). Nothing
    /// changes when they are the same.
    pub fn set(&self, upstreams: Vec<SocketAddr>) -> Result<(), DnsError> {
        let mut config = lock(&self.config);
        if config.upstreams == upstreams {
            return Ok(());
        }
        let new = ResolverConfig {
            upstreams,
            ..config.clone()
        };
        swap_engine(&self.engine, &new)?;
        *config = new;
        info!(upstreams = config.upstreams.len(), "resolver upstreams changed");
        Ok(())
    }
}

/// The configuration, also after a panic elsewhere (it is replaced whole, never left half changed).
fn lock(config: &Mutex<ResolverConfig>) -> std::sync::MutexGuard<'_, ResolverConfig> {
    config.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn swap_engine(engine: &RwLock<Arc<Engine>>, config: &ResolverConfig) -> Result<(), DnsError> {
    let new = Arc::new(Engine::new(config)?);
    let mut slot = engine
        .write()
        .map_err(|_| DnsError::Server("engine lock poisoned".into()))?;
    *slot = new;
    Ok(())
}

impl std::fmt::Debug for SplitResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitResolver")
            .field("listen", &self.listen)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for SplitResolver {
    fn drop(&mut self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

impl SplitResolver {
    /// Bind `config.listen` (UDP and TCP; port 0 picks one) and start answering. Refuses wildcard
    /// addresses. Must run inside a tokio runtime.
    pub async fn start(config: ResolverConfig) -> Result<Self, DnsError> {
        if config.listen.ip().is_unspecified() {
            return Err(DnsError::Config(
                "the resolver must not listen on a wildcard address".into(),
            ));
        }
        let engine = Arc::new(RwLock::new(Arc::new(Engine::new(&config)?)));
        let bind_err = |source| DnsError::Bind {
            addr: config.listen,
            source,
        };
        let udp = UdpSocket::bind(config.listen).await.map_err(bind_err)?;
        let listen = udp.local_addr().map_err(bind_err)?;
        let tcp = TcpListener::bind(listen).await.map_err(bind_err)?;
        let udp = tokio::spawn(udp::serve(
            Arc::new(udp),
            Arc::clone(&engine),
            Allowed::Laptop(listen.ip()),
        ));
        let tcp = tokio::spawn(tcp::serve(tcp, Arc::clone(&engine), Allowed::Laptop(listen.ip())));
        info!(
            cluster = config.cluster_dns.is_some(),
            upstreams = config.upstreams.len(),
            "resolver started"
        );
        debug!(%listen, zone = %config.zone, "resolver listening");
        Ok(Self {
            engine,
            udp,
            tcp,
            listen,
            config: Arc::new(Mutex::new(ResolverConfig { listen, ..config })),
        })
    }

    /// Where it listens (with the port picked if `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The configuration in force (a copy: an [`UpstreamsHandle`] may change its upstreams).
    pub fn config(&self) -> ResolverConfig {
        lock(&self.config).clone()
    }

    /// A handle that changes the upstreams while the resolver runs.
    pub fn upstreams_handle(&self) -> UpstreamsHandle {
        UpstreamsHandle {
            engine: Arc::clone(&self.engine),
            config: Arc::clone(&self.config),
        }
    }

    /// Switch to a new configuration (new cluster DNS, zone, routes, upstreams, cache setting)
    /// without dropping a query. The listen address cannot change: stop and start for that. The
    /// cache starts empty.
    pub fn update(&mut self, config: ResolverConfig) -> Result<(), DnsError> {
        let config = ResolverConfig {
            listen: if config.listen.port() == 0 && config.listen.ip() == self.listen.ip() {
                self.listen
            } else {
                config.listen
            },
            ..config
        };
        if config.listen != self.listen {
            return Err(DnsError::Config(
                "the listen address cannot change while running".into(),
            ));
        }
        let mut current = lock(&self.config);
        if config == *current {
            return Ok(());
        }
        swap_engine(&self.engine, &config)?;
        *current = config;
        drop(current);
        info!("resolver configuration updated");
        Ok(())
    }

    /// Stop answering and close the sockets.
    pub async fn stop(mut self) -> Result<(), DnsError> {
        self.udp.abort();
        self.tcp.abort();
        // Cancelled: the loops have dropped the sockets (queries in flight keep them until they end).
        let _ = (&mut self.udp).await;
        let _ = (&mut self.tcp).await;
        info!("resolver stopped");
        Ok(())
    }
}
