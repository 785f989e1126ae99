//! The lab's network: namespaces, veths, bridges, userspace WireGuard, pods, kube-proxy rules.
//! Everything here shells out to iproute2, wireguard-tools and iptables inside namespaces the lab owns.

pub mod apply;
pub mod cleanup;
pub mod cmd;
pub mod forward;
pub mod node;
pub mod ns;
pub mod procs;
pub mod proxy;

/// A failure while building or changing the lab's network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Cmd(#[from] cmd::CmdError),
    #[error(transparent)]
    Proc(#[from] procs::ProcError),
    #[error("lab file: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out: {0}")]
    Timeout(String),
}
