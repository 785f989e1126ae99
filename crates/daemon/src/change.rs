//! One journaled change of a tunnel, the write-before-change protocol in one place: before the
//! interface is created the state file names it and its routes; before peers and routes change it
//! names the routes live and the ones wanted (a crash in between leaves nothing unnamed); after the
//! change, whatever happened, what is live. Generic over the tunnel, so the model test
//! (`model_tests.rs`) drives the same code with a fake one and crashes it between any two steps.

use std::future::Future;

use ipnet::IpNet;
use kubewire_dns::DnsState;
use kubewire_tunnel::{Applied, Backend, Config, InterfaceSpec, Tunnel, TunnelError};

use crate::error::DaemonError;
use crate::persist::{Journal, State};

/// What a journaled change needs of a tunnel.
pub trait LiveTunnel {
    fn name(&self) -> &str;
    fn backend(&self) -> Backend;
    /// The routes through it now.
    fn live_routes(&self) -> Vec<IpNet>;
    /// Brings peers and routes to `config` (on an error, the live routes say what did succeed).
    fn apply(&mut self, config: &Config) -> impl Future<Output = Result<Applied, TunnelError>> + Send;
}

impl LiveTunnel for Tunnel {
    fn name(&self) -> &str {
        Tunnel::name(self)
    }

    fn backend(&self) -> Backend {
        Tunnel::backend(self)
    }

    fn live_routes(&self) -> Vec<IpNet> {
        self.live().routes.iter().copied().collect()
    }

    fn apply(&mut self, config: &Config) -> impl Future<Output = Result<Applied, TunnelError>> + Send {
        Tunnel::apply(self, config)
    }
}

/// Creates an interface with `create`, journaled: the state file names it (and the `routes` it will
/// get) first; a failed create leaves no file.
pub async fn journaled_create<T, F>(
    journal: &Journal,
    spec: &InterfaceSpec,
    routes: impl IntoIterator<Item = IpNet>,
    create: F,
) -> Result<T, DaemonError>
where
    F: Future<Output = Result<T, TunnelError>>,
{
    journal.before_create(&spec.name, routes)?;
    match create.await {
        Ok(t) => Ok(t),
        Err(source) => {
            let _ = journal.nothing_live();
            Err(DaemonError::Create {
                interface: spec.name.clone(),
                source,
            })
        }
    }
}

/// Brings `tunnel` to `config`, journaled. Returns what changed and the live state (without DNS;
/// `dns`: the split DNS's persisted part, kept in the file).
pub async fn journaled_change<T: LiveTunnel>(
    tunnel: &mut T,
    journal: &Journal,
    config: &Config,
    dns: Option<DnsState>,
) -> Result<(Applied, State), DaemonError> {
    let name = tunnel.name().to_owned();
    let backend = tunnel.backend();
    journal.before_change(
        &name,
        backend,
        tunnel.live_routes(),
        config.routes.iter().copied(),
        dns.clone(),
    )?;
    let result = tunnel.apply(config).await;
    // Record what is live now, whatever happened.
    let live = State::new(&name, Some(backend), tunnel.live_routes());
    let _ = journal.after_change(&live.clone().with_dns(dns));
    let applied = result.map_err(|source| DaemonError::Apply {
        interface: name,
        source,
    })?;
    Ok((applied, live))
}
