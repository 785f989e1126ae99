//! The Plan as a wg-quick file: `[Interface]` with Address and MTU (PrivateKey only when given), then
//! one `[Peer]` each (a peer whose every range was refused keeps its entry, without AllowedIPs). No `DNS =` line: wg-quick would take over the whole system resolver, and kubewire
//! only sends the cluster zone to the cluster.

use std::fmt::Write as _;

use crate::key::PrivateKey;
use crate::plan::Plan;

/// Renders `plan`; the private key is written only when given.
#[must_use]
pub fn render(plan: &Plan, private_key: Option<&PrivateKey>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "[Interface]");
    if let Some(key) = private_key {
        let _ = writeln!(out, "PrivateKey = {}", key.to_base64());
    }
    let _ = writeln!(out, "Address = {}", plan.interface.address);
    if let Some(mtu) = plan.interface.mtu {
        let _ = writeln!(out, "MTU = {mtu}");
    }
    if let Some(port) = plan.interface.listen_port {
        let _ = writeln!(out, "ListenPort = {port}");
    }
    for peer in &plan.peers {
        let _ = writeln!(out);
        let _ = writeln!(out, "[Peer]");
        let _ = writeln!(out, "PublicKey = {}", peer.public_key);
        if let Some(endpoint) = &peer.endpoint {
            let _ = writeln!(out, "Endpoint = {endpoint}");
        }
        if !peer.allowed_ips.is_empty() {
            let allowed: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "AllowedIPs = {}", allowed.join(", "));
        }
        if peer.persistent_keepalive != 0 {
            let _ = writeln!(out, "PersistentKeepalive = {}", peer.persistent_keepalive);
        }
    }
    out
}
