//! The machine's own networks, as the safety policy needs them: read from the OS routing table at
//! every Apply and after every network change (the laptop moves between networks), leaving out the
//! daemon's own interfaces (every connection's: another connection's ranges are not a LAN, the
//! overlap rule of [`crate::decide`] holds them).

/// Own networks with the interface each is on, or an empty list (with a warning) when the table
/// cannot be read: the policy's range rules (default route, too broad, loopback…) still apply then.
pub fn read_named(own: &[String]) -> Vec<kubewire_tunnel::LocalNetwork> {
    match kubewire_tunnel::local_networks_named(own.first().map(String::as_str)) {
        Ok(nets) => nets
            .into_iter()
            .filter(|n| !n.interface.as_ref().is_some_and(|i| own.contains(i)))
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "could not read the routing table; checking Plans without local networks");
            Vec::new()
        }
    }
}
