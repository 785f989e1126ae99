//! Windows: a named pipe, stop from the service control manager (or Ctrl-C in a console), files
//! protected by the ACL of their directory. Written for a Windows build; not compiled on the
//! project's Linux CI.
//!
//! The service: `kubewired.exe service` is what the MSI registers (installers/windows/kubewire.wxs).
//! `windows-services` (Microsoft's crate) runs the dispatcher; the `windows-service` crate's
//! `define_windows_service!` would expand an `unsafe` block into this crate, which the workspace's
//! `forbid(unsafe_code)` rejects.
//!
//! The pipe's ACL (SYSTEM, Administrators, and the local group chosen at install) needs
//! `ServerOptions::create_with_security_attributes_raw`, an `unsafe` call: not done here. Until a
//! safe wrapper exists the pipe has the default DACL of a pipe created by LocalSystem (LocalSystem
//! and Administrators full control; Everyone and Anonymous read), so only elevated clients can
//! write to it: the tray must run the CLI elevated, or the ACL must come from a vetted crate.

use std::fs::DirBuilder;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{LazyLock, Mutex};

use anyhow::Context as _;
use kubewire_ipc::Connection;
use kubewire_ipc::windows::PipeServer;
use tokio::sync::{Notify, mpsc};

use crate::power::{PowerEvent, service_control};

/// The service name the MSI installs (installers/windows/kubewire.wxs).
pub const SERVICE_NAME: &str = "kubewired";

static STOP: LazyLock<Notify> = LazyLock::new(Notify::new);

type PowerChannel = (
    mpsc::UnboundedSender<PowerEvent>,
    Mutex<Option<mpsc::UnboundedReceiver<PowerEvent>>>,
);

/// The service control manager's power events, from its handler to `power_windows::run`.
static POWER: LazyLock<PowerChannel> = LazyLock::new(|| {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Mutex::new(Some(rx)))
});

/// The power events the service control manager sends (only to the service); `None` after the
/// first call.
pub fn power_events() -> Option<mpsc::UnboundedReceiver<PowerEvent>> {
    POWER.1.lock().ok()?.take()
}

/// Where the daemon takes connections.
pub struct Listener(PipeServer);

impl Listener {
    /// Listens at the pipe `socket`, open to SYSTEM, the Administrators and `group` (a local
    /// group's name, a SID, or an SDDL alias such as `BU`); `mode` is Unix-only.
    pub async fn bind(socket: &Path, group: &str, _mode: Option<u32>) -> anyhow::Result<Self> {
        let name = socket.to_str().context("the pipe name is not UTF-8")?;
        Ok(Self(PipeServer::bind(name, group)?))
    }

    pub async fn accept(&mut self) -> anyhow::Result<Connection> {
        Ok(self.0.accept().await?)
    }

    pub fn remove(&self) {}
}

/// A stop request: the service control manager's Stop/Shutdown, or Ctrl-C.
pub struct Stop;

impl Stop {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self)
    }

    pub async fn requested(&mut self) {
        tokio::select! {
            () = STOP.notified() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
}

/// Whether a daemon answers on the pipe.
#[must_use]
pub fn daemon_answers(socket: &Path) -> bool {
    socket.to_str().is_some_and(|name| {
        tokio::net::windows::named_pipe::ClientOptions::new()
            .open(name)
            .is_ok()
    })
}

/// A directory (protected by the ACL the MSI gives `%ProgramData%\kubewire`).
pub fn private_dir_builder() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    builder
}

/// Runs `daemon` (the whole daemon, to its exit code) as the Windows service: started on the
/// service control manager's Start, told to stop on its Stop, and waited for before the service
/// reports Stopped. The working directory becomes the executable's own, where
/// `defguard_wireguard_rs` loads `resources-windows\binaries\wireguard-amd64.dll` from (a relative
/// path; a service starts in System32).
pub fn run_service(daemon: impl FnOnce() -> ExitCode + Send + 'static) -> ExitCode {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
        && let Err(e) = std::env::set_current_dir(&dir)
    {
        tracing::error!(error = %e, dir = %dir.display(), "cannot enter the install directory");
    }
    let daemon = Mutex::new(Some(daemon));
    let worker = Mutex::new(None);
    let result = windows_services::Service::new()
        .can_stop()
        .can_accept(service_control::ACCEPT_POWEREVENT)
        .run(|_service, command| match command {
            windows_services::Command::Start => {
                if let Some(daemon) = daemon.lock().ok().and_then(|mut d| d.take())
                    && let Ok(mut w) = worker.lock()
                {
                    *w = Some(std::thread::spawn(daemon));
                }
            }
            windows_services::Command::Stop => {
                STOP.notify_one();
                if let Some(handle) = worker.lock().ok().and_then(|mut w| w.take()) {
                    let _ = handle.join();
                }
            }
            windows_services::Command::Extended(extended) => {
                if let Some(event) = service_control::power_event(extended.control, extended.ty) {
                    let _ = POWER.0.send(event);
                }
            }
            _ => {}
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                error = e,
                service = SERVICE_NAME,
                "the service dispatcher did not start (run `kubewired` without `service` in a console)"
            );
            ExitCode::from(1)
        }
    }
}
