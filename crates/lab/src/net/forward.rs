//! The laptop's way to the cluster's API: the API server listens on the host's loopback, and the lab
//! opens a listener on `127.0.0.1:6443` inside `kw-laptop` that forwards to it, so the kubeconfig's one
//! address works from the host and from the laptop namespace, and the host's own networks are never
//! touched (the host may itself sit on 192.0.2.0/24).

use std::fs::File;
use std::net::SocketAddr;

use nix::sched::{CloneFlags, setns};

/// A TCP listener whose socket lives in network namespace `netns`. A short-lived thread joins the
/// namespace, binds, and ends; the socket stays in that namespace.
pub fn listen_in(netns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let path = format!("/run/netns/{netns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = File::open(&path)?;
            setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            let listener = std::net::TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })
        .join()
        .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
    })
}

/// Accepts on `listener` and pipes each connection to `target` until the task is aborted.
pub async fn forward(listener: tokio::net::TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect(target).await {
                Ok(mut outbound) => {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                Err(e) => tracing::debug!(error = %e, "API forward: upstream refused"),
            }
        });
    }
}
