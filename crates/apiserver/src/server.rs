//! The HTTPS server: accepts TCP connections, does the TLS handshake, serves HTTP/1.1 or HTTP/2 on
//! each, and on shutdown closes the listener and every open connection (and so every watch).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::router::{Ctx, handle};
use super::store::Store;
use super::tls::{Tls, TlsError};

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The bearer token every request must carry.
    pub token: String,
    /// Certificate material.
    pub tls: Tls,
}

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or querying the listener failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running server. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct RunningApiServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningApiServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Closes the listener and every open connection, and waits until they are closed. The store
    /// survives; `serve` can run again on the same address.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts serving `store` over HTTPS.
pub async fn serve(store: Store, cfg: ApiServerConfig) -> Result<RunningApiServer, ServeError> {
    let tls = cfg.tls.server_config()?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: cfg.listen,
        source,
    })?;
    let ctx = Arc::new(Ctx {
        store,
        token: cfg.token,
        server_address: local_addr.to_string(),
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, TlsAcceptor::from(tls), ctx, stopped));
    tracing::debug!(%local_addr, "API test server listening");
    Ok(RunningApiServer {
        local_addr,
        stop,
        task: Some(task),
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<Ctx>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    conns.spawn(serve_connection(tcp, peer, acceptor.clone(), ctx.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    tracing::debug!("API test server stopped");
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    ctx: Arc<Ctx>,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let service = service_fn(move |req| handle(ctx.clone(), req));
    if let Err(err) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}
