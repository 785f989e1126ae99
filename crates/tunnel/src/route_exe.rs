//! The arguments of Windows' `route.exe` for the tunnel's routes, pure so they are tested on every
//! OS. A route is added and deleted with its network, mask, gateway (the tunnel's own address, which
//! puts it on the tunnel's interface) and interface index when known: `route DELETE <network>`
//! alone would delete every route to that network, also the user's own (another VPN's, the LAN's).

use ipnet::IpNet;

/// `route ADD|DELETE <network> MASK <mask> <gateway> [IF <index>]`.
#[must_use]
pub fn args(verb: &str, route: &IpNet, gateway: &str, interface: Option<u32>) -> Vec<String> {
    let mut args = vec![
        verb.to_owned(),
        route.network().to_string(),
        "MASK".to_owned(),
        route.netmask().to_string(),
        gateway.to_owned(),
    ];
    if let Some(index) = interface {
        args.extend(["IF".to_owned(), index.to_string()]);
    }
    args
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_delete_names_the_mask_the_gateway_and_the_interface() {
        let r: IpNet = "10.42.3.0/24".parse().unwrap();
        assert_eq!(
            args("DELETE", &r, "10.4.0.100", Some(17)),
            [
                "DELETE",
                "10.42.3.0",
                "MASK",
                "255.255.255.0",
                "10.4.0.100",
                "IF",
                "17"
            ]
        );
        assert_eq!(
            args("ADD", &r, "10.4.0.100", None),
            ["ADD", "10.42.3.0", "MASK", "255.255.255.0", "10.4.0.100"]
        );
        // Host bits are never passed on.
        let host: IpNet = "10.43.7.9/16".parse().unwrap();
        assert_eq!(args("DELETE", &host, "10.4.0.100", None)[1], "10.43.0.0");
    }
}
