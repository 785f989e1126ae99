//! openresolv: `resolvconf -a <iface>.kubewire -m 0 -x` with our resolver (the pure parts are in
//! [`crate::os::linux::openresolv`]); `resolvconf -d <iface>.kubewire -f` on revert, and at every
//! start any `*.kubewire` record a crashed run left. The resolver listens on loopback and forwards
//! other names to the nameservers the other interfaces gave.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt as _;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::DnsBackend;
use super::openresolv_watch::{self, Follow};
use crate::os::linux::openresolv::{self, PROGRAM, SUFFIX};
use crate::os::{BackendKind, DnsState, OsPaths, SplitDnsSettings, Warnings};
use crate::{DnsError, LOOPBACK_LISTEN, UpstreamsHandle};

/// openresolv.
pub struct Openresolv;

/// How long one run of the program may take (it takes a lock and runs its subscribers).
const TIMEOUT: Duration = Duration::from_secs(10);

fn failed(args: &[&str], why: impl std::fmt::Display) -> DnsError {
    DnsError::Server(format!(
        "`{PROGRAM} {}` failed: {why}; check that openresolv works (`{PROGRAM} -l`), or choose \
         another DNS backend with KUBEWIRE_DNS_BACKEND",
        args.join(" ")
    ))
}

/// Runs the program with `args` (and `stdin`), returns its output.
pub(super) async fn run(args: &[&str], stdin: Option<&str>) -> Result<String, DnsError> {
    let mut child = tokio::process::Command::new(PROGRAM)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(args, e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(|e| failed(args, e))?;
    }
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(args, format!("no answer within {TIMEOUT:?}")))?
        .map_err(|e| failed(args, e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(failed(args, format!("{}: {}", out.status, err.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the program with `args` from synchronous code (no stdin), giving up after [`TIMEOUT`].
fn run_blocking(args: &[&str]) -> Result<String, DnsError> {
    let mut child = std::process::Command::new(PROGRAM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(args, e))?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match child.try_wait().map_err(|e| failed(args, e))? {
            Some(status) if status.success() => break,
            Some(status) => return Err(failed(args, status)),
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(args, format!("no answer within {TIMEOUT:?}")));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out).map_err(|e| failed(args, e))?;
    }
    Ok(out)
}

/// Whether `resolvconf` on PATH is openresolv.
fn present() -> bool {
    run_blocking(&["--version"]).is_ok_and(|out| openresolv::is_openresolv(&out))
}

/// openresolv's state directory, as its script on PATH and its configuration say.
fn state_dir() -> std::path::PathBuf {
    let script = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(PROGRAM))
        .find(|p| p.is_file())
        .and_then(|p| read_small(&p))
        .unwrap_or_default();
    openresolv::state_dir(&script, read_small)
}

/// A file's text, when it is small (a script or a configuration file, not something hostile).
fn read_small(path: &std::path::Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.len() < 1 << 20).then(|| std::fs::read_to_string(path).ok())?
}

#[async_trait]
impl DnsBackend for Openresolv {
    fn kind(&self) -> BackendKind {
        BackendKind::Openresolv
    }

    /// openresolv is installed and wrote `/etc/resolv.conf` (it manages the file).
    async fn detect(&self, paths: &OsPaths) -> bool {
        let manages = std::fs::read(&paths.resolv_conf.target).is_ok_and(|t| openresolv::manages(&t));
        manages && present()
    }

    fn listen_addr(&self, _interface_address: IpAddr) -> SocketAddr {
        LOOPBACK_LISTEN
    }

    /// The nameservers the other interfaces gave (`resolvconf -l`).
    fn upstreams(&self, _paths: &OsPaths, resolver: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        let listed = run_blocking(&["-l"])?;
        Ok(openresolv::theirs(&listed, resolver.ip()).nameservers)
    }

    fn prepare(&self, paths: &OsPaths, settings: &SplitDnsSettings) -> Result<DnsState, DnsError> {
        openresolv::record_name(&settings.interface)?;
        Ok(DnsState {
            backend: self.kind(),
            paths: paths.clone(),
            ifindex: None,
            interface: Some(settings.interface.clone()),
        })
    }

    async fn apply(&self, state: &DnsState, settings: &SplitDnsSettings) -> Result<(), DnsError> {
        let name = openresolv::record_name(state.interface.as_deref().unwrap_or(&settings.interface))?;
        let theirs = openresolv::theirs(&run(&["-l"], None).await?, settings.resolver.ip());
        let snippet = openresolv::snippet(settings.resolver.ip(), &theirs);
        run(&["-a", &name, "-m", "0", "-x"], Some(&snippet)).await?;
        info!(record = %name, "openresolv: our resolver is the exclusive nameserver");
        Ok(())
    }

    /// Follows the other interfaces' nameservers (a DHCP renewal) while connected. When
    /// openresolv's state directory cannot be watched, says so in `warnings` and carries on.
    async fn watch(
        &self,
        state: &DnsState,
        settings: &SplitDnsSettings,
        upstreams: UpstreamsHandle,
        warnings: Warnings,
    ) -> Result<Option<JoinHandle<()>>, DnsError> {
        let record = openresolv::record_name(state.interface.as_deref().unwrap_or(&settings.interface))?;
        let resolver = settings.resolver.ip();
        let last = openresolv::theirs(&run(&["-l"], None).await?, resolver);
        if !last.nameservers.is_empty() {
            upstreams.set(last.nameservers.clone())?;
        }
        let dir = state_dir().join("interfaces");
        let follow = Follow {
            dir: dir.clone(),
            record,
            resolver,
            last,
            upstreams,
        };
        match openresolv_watch::spawn(follow) {
            Ok(task) => Ok(Some(task)),
            Err(e) => {
                let text = format!(
                    "openresolv: cannot watch {} ({e}): a new DHCP lease's nameservers are not \
                     followed until the next connect",
                    dir.display()
                );
                warn!("{text}");
                warnings
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(text);
                Ok(None)
            }
        }
    }

    async fn revert(&self, state: &DnsState) -> Result<(), DnsError> {
        let Some(interface) = state.interface.as_deref() else {
            return Ok(());
        };
        let name = openresolv::record_name(interface)?;
        run(&["-d", &name, "-f"], None).await.map(drop)
    }

    /// Any `*.kubewire` record (a crashed run's) is deleted, when openresolv is installed.
    async fn clean_at_start(&self, _paths: &OsPaths) -> Result<(), DnsError> {
        if !present() {
            return Ok(());
        }
        // `-i` fails when no interface has handed it anything: then there is nothing to remove.
        let listed = match run(&["-i"], None).await {
            Ok(listed) => listed,
            Err(e) => {
                debug!(error = %e, "openresolv: no records");
                return Ok(());
            }
        };
        for name in listed.split_whitespace() {
            let Some(interface) = name.strip_suffix(SUFFIX) else {
                continue;
            };
            let Ok(name) = openresolv::record_name(interface) else {
                debug!(name, "openresolv: not a name of ours; left alone");
                continue;
            };
            info!(record = %name, "openresolv: removing a record a previous run left");
            run(&["-d", &name, "-f"], None).await?;
        }
        Ok(())
    }
}
