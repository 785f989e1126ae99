//! `kubewire peers`: kubewire's Kilo Peers in the cluster (owner, address, last connect, the last
//! handshake when this laptop's daemon knows it); `kubewire peers prune --older-than D` removes the
//! stale ones (the rule: `kubewire_cluster::peers::prune`).

use kubewire_cluster::keys::KeyStore;
use kubewire_cluster::kubeconfig::ClusterClient;
use kubewire_cluster::peers::prune::{self, Current, Verdict};
use kubewire_cluster::peers::{self, PeerRecord};
use kubewire_cluster::{discovery, kubeconfig};
use kubewire_ipc::{Client, Request, Response};
use serde_json::json;

use super::Global;
use super::common::{self, ClusterArgs};
use crate::output::Reported;

pub const LONG_ABOUT: &str = "\
The Kilo Peers kubewire registered in the cluster (those labelled app.kubernetes.io/managed-by=kubewire, \
including Peers an admin applied from `kubewire enroll --print`), with their owner (user and host \
labels), address, last connect (the kubewire.io/last-connect annotation connect writes, judged by the \
API server's clock), and the last handshake when this laptop's daemon knows it (for this laptop's \
current Peer; Kilo does not publish other Peers' handshakes).

`kubewire peers prune --older-than 30d` deletes kubewire's Peers whose last connect is older than that: \
never a Peer without kubewire's label, never this laptop's current Peer (its key, or the Peer of the \
running session), and never one with no last connect recorded (an enrolled Peer, or one from an earlier \
kubewire that did not record it). It says what it removed and why it kept the rest; --dry-run only says.

Examples:
  kubewire peers
  kubewire peers --json | jq '.peers[] | select(.last_connect == null)'
  kubewire peers prune --older-than 30d --dry-run";

/// Arguments of `kubewire peers`.
#[derive(Debug, clap::Args)]
pub struct PeersArgs {
    #[command(subcommand)]
    pub action: Option<PeersAction>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// JSON output: {"peers": [{"name", "user", "host", "allowed_ips", "public_key", "last_connect",
    /// "last_connect_age_secs", "enrolled", "current", "last_handshake_age_secs"}]}.
    #[arg(long)]
    pub json: bool,
}

/// What to do with the Peers.
#[derive(Debug, clap::Subcommand)]
pub enum PeersAction {
    /// Delete kubewire's Peers whose last connect is older than --older-than.
    Prune(PruneArgs),
}

/// Arguments of `kubewire peers prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove Peers whose last connect is older than this: 30d, 12h, 90m, 45s, 2w.
    #[arg(long, value_name = "DURATION", value_parser = prune::parse_duration)]
    pub older_than: u64,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// JSON output: {"dry_run": bool, "peers": [{"name", "verdict": "remove"|"recent"|"current"|"unknown"|"not-kubewire", "reason", "removed"}]}.
    #[arg(long)]
    pub json: bool,
}

/// What is known about the cluster's Peers and this laptop.
struct Seen {
    peers: Vec<PeerRecord>,
    now: u64,
    current: Current,
    /// Seconds since the freshest handshake of the daemon's tunnel to this cluster.
    handshake_age: Option<u64>,
}

/// Runs `kubewire peers`.
pub fn run(args: &PeersArgs, global: &Global) -> anyhow::Result<()> {
    match &args.action {
        None => common::runtime()?.block_on(list(args, global)),
        Some(PeersAction::Prune(prune)) => {
            let cluster = ClusterArgs {
                context: prune
                    .cluster
                    .context
                    .clone()
                    .or_else(|| args.cluster.context.clone()),
                kubeconfig: prune
                    .cluster
                    .kubeconfig
                    .clone()
                    .or_else(|| args.cluster.kubeconfig.clone()),
            };
            common::runtime()?.block_on(run_prune(prune, &cluster, global, prune.json || args.json))
        }
    }
}

async fn seen(cluster: &ClusterArgs, global: &Global) -> anyhow::Result<(ClusterClient, Seen)> {
    let loaded = kubeconfig::load(cluster.kubeconfig.as_deref())?;
    let client = loaded.client(cluster.context.as_deref()).await?;
    let clock = discovery::probe(&client.client, &client.server).await?;
    let peers = peers::list(&client.client).await?;
    let public_key = match KeyStore::default_store()?.load(&client.server).await {
        Ok(found) => found.map(|(pair, _)| pair.public.to_string()),
        Err(error) => {
            eprintln!("warning: this laptop's key could not be read ({error}); its Peer is not marked");
            None
        }
    };
    let (peer_name, handshake_age) = daemon_session(&global.socket, &client.server).await;
    Ok((
        client,
        Seen {
            peers,
            now: u64::try_from(clock.now_unix()).unwrap_or_default(),
            current: Current {
                public_key,
                peer_name,
            },
            handshake_age,
        },
    ))
}

/// The daemon's session Peer for `server` and its freshest handshake age; nothing when no daemon
/// answers or it runs a session to another cluster.
async fn daemon_session(socket: &std::path::Path, server: &str) -> (Option<String>, Option<u64>) {
    let Ok(mut client) = Client::connect(socket).await else {
        return (None, None);
    };
    let Ok(Response::Status { status }) = client.request(&Request::Status).await else {
        return (None, None);
    };
    match &status.session {
        Some(s) if s.cluster.trim_end_matches('/') == server.trim_end_matches('/') => (
            Some(s.peer_name.clone()).filter(|n| !n.is_empty()),
            status.peers.iter().filter_map(|p| p.last_handshake_secs).min(),
        ),
        _ => (None, None),
    }
}

fn is_current(p: &PeerRecord, current: &Current) -> bool {
    current.public_key.as_deref() == Some(p.public_key.as_str())
        || current.peer_name.as_deref() == Some(p.name.as_str())
}

/// "40 d" from two days on, else as `status` says ages.
fn since(secs: u64) -> String {
    if secs >= 2 * 86_400 {
        format!("{} d", secs / 86_400)
    } else {
        common::age(secs)
    }
}

fn ago(now: u64, at: Option<u64>) -> Option<u64> {
    at.map(|t| now.saturating_sub(t))
}

async fn list(args: &PeersArgs, global: &Global) -> anyhow::Result<()> {
    let (_, seen) = seen(&args.cluster, global).await?;
    if args.json {
        let peers: Vec<serde_json::Value> = seen
            .peers
            .iter()
            .map(|p| {
                let current = is_current(p, &seen.current);
                json!({
                    "name": p.name,
                    "user": p.user,
                    "host": p.host,
                    "allowed_ips": p.allowed_ips,
                    "public_key": p.public_key,
                    "last_connect": p.last_connect,
                    "last_connect_age_secs": ago(seen.now, p.last_connect),
                    "enrolled": p.enrolled,
                    "current": current,
                    "last_handshake_age_secs": if current { seen.handshake_age } else { None },
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "peers": peers }))?);
        return Ok(());
    }
    if seen.peers.is_empty() {
        println!("no kubewire Peers in this cluster");
        return Ok(());
    }
    let header = [
        "NAME",
        "OWNER",
        "ADDRESS",
        "LAST CONNECT",
        "LAST HANDSHAKE",
        "NOTE",
    ]
    .map(String::from);
    let rows: Vec<[String; 6]> = seen
        .peers
        .iter()
        .map(|p| {
            let current = is_current(p, &seen.current);
            let mut note = Vec::new();
            if current {
                note.push("this laptop");
            }
            if p.enrolled.is_some() {
                note.push("enrolled by an admin");
            }
            [
                p.name.clone(),
                format!(
                    "{}@{}",
                    p.user.as_deref().unwrap_or("?"),
                    p.host.as_deref().unwrap_or("?")
                ),
                p.allowed_ips.join(","),
                ago(seen.now, p.last_connect)
                    .map_or_else(|| "unknown".into(), |s| format!("{} ago", since(s))),
                match (current, seen.handshake_age) {
                    (true, Some(s)) => format!("{} ago", common::age(s)),
                    _ => "unknown".into(),
                },
                note.join(", "),
            ]
        })
        .collect();
    print_table(&header, &rows);
    Ok(())
}

fn print_table(header: &[String; 6], rows: &[[String; 6]]) {
    let mut widths = header.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

async fn run_prune(
    args: &PruneArgs,
    cluster: &ClusterArgs,
    global: &Global,
    as_json: bool,
) -> anyhow::Result<()> {
    let (client, seen) = seen(cluster, global).await?;
    let verdicts = prune::select(&seen.peers, seen.now, args.older_than, &seen.current);
    let mut results = Vec::new();
    let mut failed = 0;
    for (p, verdict) in seen.peers.iter().zip(&verdicts) {
        let age = ago(seen.now, p.last_connect)
            .map_or_else(|| "never recorded".to_owned(), |s| format!("{} ago", since(s)));
        let owner = format!(
            "{}@{}",
            p.user.as_deref().unwrap_or("?"),
            p.host.as_deref().unwrap_or("?")
        );
        let removed = if *verdict == Verdict::Remove && !args.dry_run {
            match peers::delete(&client.client, &p.name).await {
                Ok(()) => true,
                Err(error) => {
                    failed += 1;
                    eprintln!("error: {error}");
                    false
                }
            }
        } else {
            false
        };
        if !as_json {
            let what = match (verdict, removed, args.dry_run) {
                (Verdict::Remove, true, _) => "removed",
                (Verdict::Remove, false, true) => "would remove",
                (Verdict::Remove, false, false) => "not removed",
                _ => "kept",
            };
            println!(
                "{what} {} ({owner}, last connect {age}): {}",
                p.name,
                verdict.reason()
            );
        }
        results.push(json!({
            "name": p.name,
            "verdict": verdict,
            "reason": verdict.reason(),
            "removed": removed,
        }));
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"dry_run": args.dry_run, "peers": results}))?
        );
    } else if seen.peers.is_empty() {
        println!("no kubewire Peers in this cluster");
    }
    if failed > 0 {
        return Err(Reported(1).into());
    }
    Ok(())
}
