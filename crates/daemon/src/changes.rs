//! What one apply changed, as the user reads it: peers by name in the Plan's order, routes.

use kubewire_core::{Plan, PublicKey};
use kubewire_ipc::Changes;
use kubewire_tunnel::Applied;

/// The peers' names (their key when the Plan has no such peer).
fn names(keys: &[PublicKey], plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = keys
        .iter()
        .map(|k| {
            plan.peers
                .iter()
                .find(|p| p.public_key == *k)
                .map_or_else(|| k.to_string(), |p| p.name.clone())
        })
        .collect();
    // In the Plan's order, the way the user reads them.
    names.sort_by_key(|n| plan.peers.iter().position(|e| &e.name == n));
    names
}

/// `applied` from the Plan `before` to the Plan `after`.
#[must_use]
pub fn describe(applied: Applied, before: &Plan, after: &Plan, interface_created: bool) -> Changes {
    Changes {
        interface_created,
        peers_removed: names(&applied.peers_removed, before),
        peers_added: names(&applied.peers_added, after),
        routes_added: applied.routes_added,
        routes_removed: applied.routes_removed,
        ..Changes::default()
    }
}
