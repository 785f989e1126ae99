//! The inbound filter: the cluster may answer the laptop, but may open connections to it only on
//! the ports the laptop's user exposed (`kubewire expose`). Installed before a connection's
//! interface exists (so there is no moment the laptop is open to the cluster), replaced whole on
//! every expose/unexpose, removed after the interface. What the rules are is decided here; the OS
//! files install them (Linux: an iptables/ip6tables chain per interface; elsewhere not yet:
//! `status` says the filter is off and `expose` is refused).

use std::collections::BTreeSet;

use kubewire_ipc::ExposedPort;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{install, remove};

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::{install, remove};

/// Why the filter could not be put in place (or taken away).
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    #[error(
        "the inbound filter is not implemented on this OS yet: the cluster can reach every port of the laptop's tunnel address, so nothing is exposed"
    )]
    Unsupported,
}

/// A session's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// In place.
    On,
    /// This OS has none yet (not a warning: nothing regressed).
    Unsupported(String),
    /// It could not be installed: a warning (the laptop is open to the cluster).
    Failed(String),
}

impl Filter {
    /// What installing it for a new interface gave.
    pub fn from_install(result: Result<(), InboundError>) -> Self {
        match result {
            Ok(()) => Self::On,
            Err(e @ InboundError::Unsupported) => Self::Unsupported(e.to_string()),
            Err(e) => Self::Failed(format!(
                "the inbound filter could not be installed ({e}): the cluster can reach every port \
                 of this laptop's tunnel address"
            )),
        }
    }

    /// Why ports cannot be exposed, if they cannot.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            Self::On => None,
            Self::Unsupported(why) | Self::Failed(why) => Some(why),
        }
    }

    /// The warning `status` shows, if any.
    pub fn warning(&self) -> Option<&str> {
        match self {
            Self::Failed(why) => Some(why),
            Self::On | Self::Unsupported(_) => None,
        }
    }
}

/// The filter chain of interface `interface` (iptables allows 28 characters; interface names
/// have at most 15).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[must_use]
pub fn chain(interface: &str) -> String {
    format!("KWIN-{interface}")
}

/// The `iptables-restore --noflush` text that makes `interface`'s chain exactly: replies and
/// related ICMP (path MTU discovery) pass, the exposed ports pass, everything else (an echo
/// request too) is dropped. The same text serves iptables and ip6tables.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[must_use]
pub fn rules(interface: &str, exposed: &BTreeSet<ExposedPort>) -> String {
    let chain = chain(interface);
    let mut out = format!("*filter\n:{chain} - [0:0]\n-F {chain}\n");
    out.push_str(&format!(
        "-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    ));
    let ports: BTreeSet<_> = exposed.iter().map(|p| (p.protocol, p.port)).collect();
    for (protocol, port) in ports {
        let proto = protocol.as_str();
        out.push_str(&format!(
            "-A {chain} -p {proto} -m {proto} --dport {port} -j ACCEPT\n"
        ));
    }
    out.push_str(&format!("-A {chain} -j DROP\nCOMMIT\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_ipc::Protocol;

    fn port(protocol: Protocol, port: u16, service: &str) -> ExposedPort {
        ExposedPort {
            protocol,
            port,
            service: service.into(),
        }
    }

    #[test]
    fn nothing_exposed_lets_only_replies_in() {
        let text = rules("kw-kubewir-4027", &BTreeSet::new());
        assert_eq!(
            text,
            "*filter\n:KWIN-kw-kubewir-4027 - [0:0]\n-F KWIN-kw-kubewir-4027\n\
             -A KWIN-kw-kubewir-4027 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
             -A KWIN-kw-kubewir-4027 -j DROP\nCOMMIT\n"
        );
        assert!(chain("kubewire-abcdefg").len() <= 28);
    }

    #[test]
    fn each_exposed_port_once_with_its_protocol() {
        let exposed: BTreeSet<_> = [
            port(Protocol::Tcp, 8080, "default/api"),
            port(Protocol::Tcp, 8080, "dev/api"),
            port(Protocol::Udp, 5353, "default/dns"),
        ]
        .into_iter()
        .collect();
        let text = rules("kwd0", &exposed);
        assert_eq!(text.matches("--dport 8080 -j ACCEPT").count(), 1);
        assert!(text.contains("-A KWIN-kwd0 -p tcp -m tcp --dport 8080 -j ACCEPT\n"));
        assert!(text.contains("-A KWIN-kwd0 -p udp -m udp --dport 5353 -j ACCEPT\n"));
        assert!(text.ends_with("-A KWIN-kwd0 -j DROP\nCOMMIT\n"));
    }
}
