//! The topology as GraphViz, like `kgctl graph`: one dashed cluster per segment with its nodes (the
//! leader drawn as a box), leaders meshed, Kilo Peers in `cluster_peers`, and the laptop with a tunnel
//! to every peer; the service gateway's edge is bold and labelled with the service CIDRs.

use std::fmt::Write as _;

use crate::plan::{PeerKind, Plan};

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the Plan's topology as a DOT digraph.
#[must_use]
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph kilo {{");
    let _ = writeln!(out, "  label={};", quote(&plan.cluster.subnet.to_string()));
    let _ = writeln!(
        out,
        "  labelloc=t;\n  outputorder=nodesfirst;\n  nodesep=1.2;\n  rankdir=LR;\n  ranksep=2;"
    );
    let _ = writeln!(out, "  splines=polyline;");
    let mut leaders = Vec::new();
    let mut peers = Vec::new();
    for (i, peer) in plan.peers.iter().enumerate() {
        match &peer.kind {
            PeerKind::Segment {
                location,
                leader,
                nodes,
                wireguard_ip,
                ..
            } => {
                let _ = writeln!(out, "  subgraph {} {{", quote(&format!("cluster_{i}")));
                let _ = writeln!(
                    out,
                    "    label={};\n    style=\"dashed,rounded\";",
                    quote(location)
                );
                for node in nodes {
                    if node == leader {
                        let wg = wireguard_ip.map(|ip| ip.to_string()).unwrap_or_default();
                        let endpoint = peer
                            .endpoint
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        let label = format!("{node}\n{wg}\n{endpoint}");
                        let _ = writeln!(out, "    {} [label={}, shape=box];", quote(node), quote(&label));
                    } else {
                        let _ = writeln!(out, "    {} [shape=ellipse];", quote(node));
                        let _ = writeln!(out, "    {} -> {} [dir=both];", quote(leader), quote(node));
                    }
                }
                let _ = writeln!(out, "  }}");
                leaders.push((peer.name.as_str(), leader.as_str()));
            }
            PeerKind::KiloPeer => peers.push(peer),
        }
    }
    for (i, (_, a)) in leaders.iter().enumerate() {
        for (_, b) in leaders.iter().skip(i + 1) {
            let _ = writeln!(out, "  {} -> {} [dir=both];", quote(a), quote(b));
        }
    }
    if !peers.is_empty() {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_peers\" {{\n    label=\"peers\";\n    style=\"dashed,rounded\";"
        );
        for peer in &peers {
            let _ = writeln!(
                out,
                "    {} [shape=ellipse];",
                quote(&format!("peer:{}", peer.name))
            );
        }
        let _ = writeln!(out, "  }}");
    }
    let laptop = format!("laptop\n{}", plan.interface.address);
    let _ = writeln!(
        out,
        "  \"laptop\" [label={}, shape=house, style=filled];",
        quote(&laptop)
    );
    let gateway = plan.service_gateway.as_ref();
    for (entry, leader) in &leaders {
        match gateway.filter(|g| g.peer == *entry) {
            Some(g) => {
                let cidrs: Vec<String> = g.cidrs.iter().map(ToString::to_string).collect();
                let label = format!("service gateway\n{}", cidrs.join(", "));
                let _ = writeln!(
                    out,
                    "  \"laptop\" -> {} [label={}, style=bold];",
                    quote(leader),
                    quote(&label)
                );
            }
            None => {
                let _ = writeln!(out, "  \"laptop\" -> {} [style=dashed];", quote(leader));
            }
        }
    }
    for peer in &peers {
        let _ = writeln!(
            out,
            "  \"laptop\" -> {} [style=dashed];",
            quote(&format!("peer:{}", peer.name))
        );
    }
    let _ = writeln!(out, "}}");
    out
}
