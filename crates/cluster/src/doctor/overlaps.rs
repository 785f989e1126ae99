//! The local networks check: which of the Plan's ranges a network of this machine took (the daemon
//! withdrew them from the tunnel: the LAN wins), each with the network, its interface and the command
//! that routes the range into the tunnel anyway.

use kubewire_ipc::Status;

use super::report::Report;

const NAME: &str = "local networks";

/// Adds the check from the daemon's status.
pub(crate) fn check(r: &mut Report, status: &Status) {
    if status.withdrawn.is_empty() {
        r.ok(NAME, "no network of this machine overlaps a routed cluster range");
        return;
    }
    let taken: Vec<String> = status
        .withdrawn
        .iter()
        .map(|w| {
            let on = w
                .interface
                .as_deref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default();
            format!(
                "{} ({}) overlaps the local network {}{on}",
                w.range, w.peer, w.local
            )
        })
        .collect();
    let commands: Vec<String> = status
        .withdrawn
        .iter()
        .map(|w| format!("kubewire connect --prefer-tunnel {}", w.range))
        .collect();
    r.fail(
        NAME,
        &format!(
            "{}: not routed into the tunnel (the local network wins), so that part of the cluster is unreachable",
            taken.join("; ")
        ),
        &format!(
            "leave that network (another VPN, a hotel LAN), or route the range into the tunnel anyway,\n\
             remembered for this context (`--lan-wins CIDR` undoes it):\n{}",
            commands.join("\n")
        ),
    );
}
