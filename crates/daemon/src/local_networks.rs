//! The machine's own networks, as the safety policy needs them: read from the OS routing table at
//! every Apply (the laptop moves between networks), leaving out the daemon's own interface.

use ipnet::IpNet;

/// Own networks, or an empty list (with a warning) when the table cannot be read: the policy's
/// range rules (default route, too broad, loopback…) still apply then.
pub fn read(own_interface: Option<&str>) -> Vec<IpNet> {
    match kubewire_tunnel::local_networks(own_interface) {
        Ok(nets) => nets,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the routing table; checking Plans without local networks");
            Vec::new()
        }
    }
}
