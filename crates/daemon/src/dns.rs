//! Split DNS for a session (`kubewire-dns`): started on the first Plan with a cluster DNS server,
//! updated on later Plans, reverted and stopped on disconnect. The OS change is persisted in the
//! state file before it is made, so a successor can undo it after a crash. A DNS failure never
//! fails an apply: it becomes a warning (the tunnel still works by IP).

use std::path::{Path, PathBuf};

use kubewire_core::Plan;
use kubewire_dns::{
    BackendKind, DnsState, OsDns, OsPaths, ResolverConfig, SplitDnsSettings, SplitResolver, Warnings,
    os::ResolvConfPaths,
};

use crate::error::SplitDnsError;
use crate::persist::{Journal, State};

/// The resolv.conf backup's name in the state directory.
pub const RESOLV_BACKUP: &str = "resolv.pre-kubewire-backup.conf";

/// The files the DNS backends touch: the system resolv.conf, with its backup in the daemon's state
/// directory (under `ip netns exec` only `/etc/resolv.conf` is the namespace's own file).
#[must_use]
pub fn os_paths(state_dir: &Path) -> OsPaths {
    OsPaths {
        resolv_conf: ResolvConfPaths {
            target: PathBuf::from("/etc/resolv.conf"),
            backup: state_dir.join(RESOLV_BACKUP),
        },
        ..OsPaths::default()
    }
}

/// How the daemon does DNS: its files and an optional forced backend (`--dns-backend`).
#[derive(Clone, Debug)]
pub struct DnsOptions {
    pub paths: OsPaths,
    pub backend: Option<BackendKind>,
}

/// The running split DNS of a session.
pub struct DnsSession {
    os: OsDns,
    state: DnsState,
    settings: SplitDnsSettings,
    resolver: SplitResolver,
    watch: Option<tokio::task::JoinHandle<()>>,
    /// From the watch (resolv.conf mode: another program keeps rewriting the file).
    warnings: Warnings,
    /// The listeners for containers on the laptop's Docker/Podman bridges.
    containers: crate::container_dns::ContainerDns,
}

impl DnsSession {
    /// What the watch has to say now (for `status`).
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Where containers on the laptop can ask (their bridges' gateway addresses).
    #[must_use]
    pub fn container_addresses(&self) -> Vec<std::net::SocketAddr> {
        self.containers.addresses()
    }

    /// Follow the container bridges (at start and after a network change): a listener for each
    /// bridge there is now, none for one that went. Whether the listeners changed.
    pub async fn containers_changed(&mut self) -> bool {
        let before = (self.containers.addresses(), self.containers.warnings());
        let bridges = tokio::task::spawn_blocking(crate::container_bridges::read)
            .await
            .unwrap_or_default();
        self.containers
            .sync(
                crate::container_dns::on_dns_runtime(&self.resolver.bridge_starter()),
                bridges,
                crate::container_dns::PORT,
            )
            .await;
        before != (self.containers.addresses(), self.containers.warnings())
    }

    /// What to persist in the state file.
    #[must_use]
    pub fn state(&self) -> &DnsState {
        &self.state
    }

    /// Starts DNS for `plan` (its interface exists). `base` is the state file's content without
    /// DNS: the DNS state is added and written before the OS is changed.
    pub async fn start(
        options: &DnsOptions,
        plan: &Plan,
        journal: &Journal,
        base: &State,
    ) -> Result<Self, SplitDnsError> {
        let os = match options.backend {
            Some(kind) => OsDns::new(kind, options.paths.clone()),
            None => OsDns::detect(options.paths.clone()).await,
        };
        let listen = os.listen_addr(plan.interface.address.addr());
        let upstreams = os.upstreams(listen).map_err(SplitDnsError::Upstreams)?;
        // On its own runtime: the daemon's makes blocking calls.
        let resolver = crate::dns_runtime::start_resolver(ResolverConfig::from_plan(plan, listen, upstreams))
            .await
            .map_err(SplitDnsError::StartResolver)?;
        let settings = SplitDnsSettings::from_plan(plan, resolver.local_addr());
        let state = match os.prepare(&settings) {
            Ok(s) => s,
            Err(e) => {
                let _ = crate::dns_runtime::stop_resolver(resolver).await;
                return Err(SplitDnsError::Prepare {
                    kind: os.kind(),
                    source: e,
                });
            }
        };
        if let Err(e) = journal.before_dns(base, state.clone()) {
            let _ = crate::dns_runtime::stop_resolver(resolver).await;
            return Err(SplitDnsError::Persist(e));
        }
        if let Err(e) = os.apply(&state, &settings).await {
            if let Err(r) = os.revert(&state).await {
                tracing::error!(error = %r, "reverting a failed DNS change");
            }
            let _ = crate::dns_runtime::stop_resolver(resolver).await;
            let _ = journal.dns_undone(base);
            return Err(SplitDnsError::PointAt {
                kind: os.kind(),
                source: e,
            });
        }
        let warnings = Warnings::default();
        let watch = match crate::dns_runtime::start_watch(
            os.clone(),
            state.clone(),
            settings.clone(),
            resolver.upstreams_handle(),
            warnings.clone(),
        )
        .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the DNS settings (resolved restarts, resolv.conf rewrites)");
                None
            }
        };
        tracing::info!(
            backend = ?os.kind(),
            listen = %resolver.local_addr(),
            zone = %settings.zone,
            "split DNS started"
        );
        let mut session = Self {
            os,
            state,
            settings,
            resolver,
            watch,
            warnings,
            containers: crate::container_dns::ContainerDns::default(),
        };
        session.containers_changed().await;
        Ok(session)
    }

    /// A new Plan on the same interface: new resolver configuration, and the OS told again if its
    /// settings changed.
    pub async fn update(&mut self, plan: &Plan) -> Result<(), SplitDnsError> {
        let upstreams = self.resolver.config().upstreams.clone();
        self.resolver
            .update(ResolverConfig::from_plan(
                plan,
                self.resolver.local_addr(),
                upstreams,
            ))
            .map_err(SplitDnsError::Update)?;
        let settings = SplitDnsSettings::from_plan(plan, self.resolver.local_addr());
        if settings != self.settings {
            // The watch stops first: it writes the same files.
            stop_watch(self.watch.take()).await;
            let applied = self
                .os
                .apply(&self.state, &settings)
                .await
                .map_err(SplitDnsError::Reapply);
            self.watch = crate::dns_runtime::start_watch(
                self.os.clone(),
                self.state.clone(),
                settings.clone(),
                self.resolver.upstreams_handle(),
                self.warnings.clone(),
            )
            .await
            .ok()
            .flatten();
            applied?;
            self.settings = settings;
        }
        Ok(())
    }

    /// Reverts the OS change and stops the resolver.
    pub async fn stop(mut self) -> Result<(), SplitDnsError> {
        // Ended (not only told to end) before the revert: it writes the same files.
        stop_watch(self.watch.take()).await;
        // Nothing listens on a bridge once disconnected.
        self.containers.stop().await;
        let reverted = self.os.revert(&self.state).await;
        if let Err(e) = crate::dns_runtime::stop_resolver(self.resolver).await {
            tracing::warn!(error = %e, "stopping the resolver");
        }
        reverted.map_err(SplitDnsError::Restore)?;
        tracing::info!(backend = ?self.os.kind(), "split DNS stopped");
        Ok(())
    }
}

/// Aborts a watch task and waits until it has ended.
async fn stop_watch(watch: Option<tokio::task::JoinHandle<()>>) {
    if let Some(w) = watch {
        w.abort();
        let _ = w.await;
    }
}

/// At start, before anything else: undo what a crashed predecessor changed for every connection the
/// state file names, in reverse name order (each [`restore_at_start`]); without any DNS state,
/// the default files.
pub async fn restore_all_at_start(journal: &Journal, paths: &OsPaths) {
    let persisted: Vec<DnsState> = journal
        .read_all()
        .map(|all| all.into_values().filter_map(|s| s.dns).collect())
        .unwrap_or_default();
    if persisted.is_empty() {
        restore_at_start(None, paths).await;
    }
    for dns in persisted.iter().rev() {
        restore_at_start(Some(dns), paths).await;
    }
}

/// At start, before anything else: undo what a crashed predecessor changed (its persisted DNS state,
/// else the default files: a resolv.conf of ours is restored from the backup).
pub async fn restore_at_start(state: Option<&DnsState>, paths: &OsPaths) {
    match kubewire_dns::restore_at_start(state, paths).await {
        Ok(()) => {
            if state.is_some() {
                tracing::info!("restored the DNS settings a previous kubewired left");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not restore the DNS settings a previous kubewired left"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_lives_in_the_state_dir() {
        let p = os_paths(Path::new("/var/lib/kubewire"));
        assert_eq!(p.resolv_conf.target, PathBuf::from("/etc/resolv.conf"));
        assert_eq!(
            p.resolv_conf.backup,
            PathBuf::from("/var/lib/kubewire/resolv.pre-kubewire-backup.conf")
        );
    }
}
