//! The split DNS resolver runs on a runtime of its own (one thread, `kubewired-dns`), never on the
//! daemon's: the daemon's runtime makes blocking calls (`ip`, fsync of the state file, user lookups
//! through NSS, D-Bus peers that may be slow) and a name must resolve while one of them waits. The
//! runtime is made on first use and lives as long as the process. Should it fail to start, the
//! resolver runs on the caller's runtime (with an error in the log) rather than not at all.

use std::sync::OnceLock;

use kubewire_dns::{DnsError, ResolverConfig, SplitResolver};
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

fn handle() -> Option<Handle> {
    RUNTIME
        .get_or_init(|| {
            match Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("kubewired-dns")
                .enable_all()
                .build()
            {
                Ok(runtime) => Some(runtime),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the resolver's own runtime; it shares the daemon's");
                    None
                }
            }
        })
        .as_ref()
        .map(|r| r.handle().clone())
}

/// Starts the resolver on the DNS runtime: its listeners and every task it spawns run there.
pub async fn start_resolver(config: ResolverConfig) -> Result<SplitResolver, DnsError> {
    match handle() {
        Some(dns) => dns
            .spawn(SplitResolver::start(config))
            .await
            .map_err(|e| DnsError::Server(format!("the resolver's runtime: {e}")))?,
        None => SplitResolver::start(config).await,
    }
}

/// Stops the resolver on the DNS runtime (its tasks end there).
pub async fn stop_resolver(resolver: SplitResolver) -> Result<(), DnsError> {
    match handle() {
        Some(dns) => dns
            .spawn(resolver.stop())
            .await
            .map_err(|e| DnsError::Server(format!("the resolver's runtime: {e}")))?,
        None => resolver.stop().await,
    }
}

/// Starts the OS backend's watch (resolved restarts, resolv.conf rewrites) on the DNS runtime, so it
/// puts our settings back while the daemon's runtime is blocked.
pub async fn start_watch(
    os: kubewire_dns::OsDns,
    state: kubewire_dns::DnsState,
    settings: kubewire_dns::SplitDnsSettings,
    upstreams: kubewire_dns::UpstreamsHandle,
    warnings: kubewire_dns::Warnings,
) -> Result<Option<tokio::task::JoinHandle<()>>, DnsError> {
    let watch = async move { os.watch(&state, &settings, upstreams, warnings).await };
    match handle() {
        Some(dns) => dns
            .spawn(watch)
            .await
            .map_err(|e| DnsError::Server(format!("the resolver's runtime: {e}")))?,
        None => watch.await,
    }
}

/// Starts a container bridge's listener on the DNS runtime (its loops run there).
pub async fn listen_bridge(
    starter: kubewire_dns::BridgeStarter,
    listen: std::net::SocketAddr,
    subnet: ipnet::Ipv4Net,
) -> Result<kubewire_dns::BridgeListener, DnsError> {
    match handle() {
        Some(dns) => dns
            .spawn(async move { starter.listen(listen, subnet).await })
            .await
            .map_err(|e| DnsError::Server(format!("the resolver's runtime: {e}")))?,
        None => starter.listen(listen, subnet).await,
    }
}
