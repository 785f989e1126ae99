//! `kubewire status`: the tunnel as the daemon has it (per segment: endpoint, handshake age, traffic;
//! the service gateway; warnings) and whether a controller still follows the cluster.

use kubewire_ipc::{Client, ClientError, Request, Response, Status, TunnelState};
use serde_json::json;

use super::Global;
use super::{common, controllers};

/// Arguments of `kubewire status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// JSON output: `{"daemon": <status>, "controller_pid": N|null, "controller": {...}|null,
    /// "controllers": {<connection>: {"pid": N, "status": {...}}}}`; `daemon.connections` lists every
    /// connection's status, the fields around it are the first connection's.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kubewire status`.
pub fn run(args: &StatusArgs, global: &Global) -> anyhow::Result<()> {
    let asked = common::runtime()?.block_on(async {
        let mut client = Client::connect(&global.socket).await?;
        match client.request(&Request::Status).await? {
            Response::Status { status } => Ok::<_, ClientError>(*status),
            _ => Err(ClientError::Unexpected),
        }
    });
    let running = controllers::running();
    let status = match asked {
        Ok(status) => status,
        // The daemon is away (restarting?) while a controller follows: say what it will do.
        Err(error) if !running.is_empty() => {
            let pids: Vec<String> = running.iter().map(|r| r.pid.to_string()).collect();
            return Err(anyhow::Error::new(error).context(format!(
                "the daemon does not answer; the controller (pid {}) keeps the plan and restores the \
                 tunnel when it is back",
                pids.join(", ")
            )));
        }
        Err(error) => return Err(error.into()),
    };
    // Each connection with its controller (by name; a controller that does not say follows the
    // only connection).
    let controller_of = |s: &Status| {
        let name = s.connection().unwrap_or_default();
        running
            .iter()
            .find(|r| r.name == name)
            .or_else(|| running.iter().find(|r| r.name.is_empty()))
            .cloned()
    };
    let read = |r: &controllers::Running| -> Option<serde_json::Value> {
        std::fs::read_to_string(r.files.status())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    let first = controller_of(&status).or_else(|| running.first().cloned());
    if args.json {
        let controllers: serde_json::Map<String, serde_json::Value> = running
            .iter()
            .map(|r| (r.name.clone(), json!({"pid": r.pid, "status": read(r)})))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "daemon": status,
                "controller_pid": first.as_ref().map(|r| r.pid),
                "controller": first.as_ref().and_then(read),
                "controllers": controllers,
            }))?
        );
        return Ok(());
    }
    if status.connections.len() <= 1 {
        print!("{}", render(&status, first.as_ref().map(|r| r.pid)));
        if let Some(c) = first.as_ref().and_then(read) {
            print!("{}", render_controller(&c));
        }
        return Ok(());
    }
    for (i, connection) in status.connections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let controller = controller_of(connection);
        println!(
            "connection:  {}",
            connection.connection().unwrap_or_else(|| "?".into())
        );
        print!("{}", render(connection, controller.as_ref().map(|r| r.pid)));
        if let Some(c) = controller.as_ref().and_then(read) {
            print!("{}", render_controller(&c));
        }
    }
    Ok(())
}

/// What the controller knows that the daemon does not: the cluster API's reachability, failover.
fn render_controller(c: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if c["daemon_lost_since"].is_u64() {
        let _ = writeln!(
            out,
            "warning: the daemon went away ({}); the controller restores the tunnel now that it is back",
            c["daemon_error"].as_str().unwrap_or("")
        );
    }
    if c["reachable"] == false {
        let since = c["unreachable_since"]
            .as_u64()
            .map(|t| httpdate::fmt_http_date(kubewire_ipc::time::from_unix_secs(t)))
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            out,
            "warning: cluster API unreachable since {since}, retrying; the tunnel keeps its last plan ({})",
            c["last_error"].as_str().unwrap_or("")
        );
    }
    if let Some(node) = c["gateway_override"]["node"].as_str() {
        let _ = writeln!(
            out,
            "warning: service gateway failed over to {node}: {}",
            c["gateway_override"]["reason"].as_str().unwrap_or("")
        );
    }
    for w in c["warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    out
}

/// The HANDSHAKE column: the age, and the daemon's verdict when it is not fine
/// ([`kubewire_ipc::health`]).
fn handshake_cell(p: &kubewire_ipc::PeerStatus) -> String {
    use kubewire_ipc::PeerHealth;
    match (p.health(), p.last_handshake_secs) {
        (PeerHealth::InGrace, _) => "not yet".into(),
        (PeerHealth::Never, _) | (_, None) => "never".into(),
        (PeerHealth::Stale, Some(a)) => format!("{} ago (stale)", common::age(a)),
        (PeerHealth::Fresh, Some(a)) => format!("{} ago", common::age(a)),
    }
}

fn render(s: &Status, pid: Option<i32>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let state = match s.state {
        TunnelState::Disconnected => "disconnected",
        TunnelState::Connected => "connected",
        TunnelState::Degraded => "degraded",
    };
    let _ = writeln!(out, "state:       {state}");
    if s.state == TunnelState::Disconnected {
        return out;
    }
    let _ = writeln!(
        out,
        "interface:   {} ({}), address {}",
        s.interface.as_deref().unwrap_or("?"),
        s.backend.as_deref().unwrap_or("?"),
        s.address.map_or_else(|| "?".into(), |a| a.to_string())
    );
    if let Some(session) = &s.session {
        let _ = writeln!(
            out,
            "cluster:     {} ({}), Peer {}",
            session.context, session.cluster, session.peer_name
        );
    }
    let controller = match (s.controller_attached, pid) {
        (true, Some(pid)) => format!("attached (pid {pid})"),
        (true, None) => "attached".to_owned(),
        (false, _) => {
            "NOT attached: the tunnel keeps its last plan and is no longer updated; run `kubewire connect`"
                .to_owned()
        }
    };
    let _ = writeln!(out, "controller:  {controller}");
    let _ = writeln!(
        out,
        "gateway:     {}",
        s.service_gateway
            .as_deref()
            .unwrap_or("none (services not routed)")
    );
    if let Some(dns) = s.dns_server {
        let _ = writeln!(out, "cluster DNS: {dns}");
    }
    for addr in &s.container_dns {
        let _ = writeln!(
            out,
            "containers:  DNS at {addr} (`docker run --dns {}`; see `kubewire doctor`)",
            addr.ip()
        );
    }
    if let Some(mtu) = &s.mtu {
        let _ = writeln!(out, "MTU:         {mtu}");
    }
    if let Some(event) = &s.network_event {
        let now = kubewire_ipc::time::now_secs();
        let _ = writeln!(
            out,
            "network:     {} ago: {event}",
            common::age(now.saturating_sub(event.at))
        );
    }
    let _ = writeln!(out);
    let rows: Vec<[String; 6]> = s
        .peers
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.endpoint.clone().unwrap_or_else(|| "-".into()),
                handshake_cell(p),
                common::bytes(p.rx_bytes),
                common::bytes(p.tx_bytes),
                p.allowed_ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    let header = ["PEER", "ENDPOINT", "HANDSHAKE", "RX", "TX", "ALLOWED IPS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_ipc::{PeerHealth, PeerStatus};

    fn peer(age: Option<u64>, health: Option<PeerHealth>) -> PeerStatus {
        PeerStatus {
            name: "aws".into(),
            public_key: kubewire_core::PublicKey::from_bytes([1; 32]),
            endpoint: None,
            allowed_ips: vec![],
            last_handshake_secs: age,
            rx_bytes: 0,
            tx_bytes: 0,
            health,
        }
    }

    #[test]
    fn the_handshake_column_shows_the_daemons_verdict() {
        assert_eq!(handshake_cell(&peer(Some(5), Some(PeerHealth::Fresh))), "5 s ago");
        assert_eq!(handshake_cell(&peer(Some(179), None)), "2 min ago");
        assert_eq!(handshake_cell(&peer(Some(180), None)), "3 min ago (stale)");
        assert_eq!(handshake_cell(&peer(None, Some(PeerHealth::InGrace))), "not yet");
        assert_eq!(handshake_cell(&peer(None, Some(PeerHealth::Never))), "never");
        assert_eq!(handshake_cell(&peer(None, None)), "never");
    }
}
