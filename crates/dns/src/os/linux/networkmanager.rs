//! NetworkManager over D-Bus: the pure parts. The tunnel device's applied connection
//! (`Device.GetAppliedConnection`) gets our resolver as its DNS server, `~<zone>` and `~<reverse
//! zone>` routing domains plus the search suffixes, and a DNS priority, and goes back with
//! `Device.Reapply` (not saved in a profile: the settings vanish with the device). Used only when
//! NetworkManager hands DNS to a split-capable resolver (its DnsManager `Mode` is `dnsmasq` or
//! `systemd-resolved`); when it writes `/etc/resolv.conf` itself, the file backend follows it.

use std::collections::HashMap;
use std::net::IpAddr;

use zbus::zvariant::{OwnedValue, Value};

use crate::DnsError;
use crate::os::SplitDnsSettings;

/// The bus name, the manager's path and interface.
pub const DESTINATION: &str = "org.freedesktop.NetworkManager";
/// The manager's object.
pub const PATH: &str = "/org/freedesktop/NetworkManager";
/// The DNS manager's object.
pub const DNS_MANAGER_PATH: &str = "/org/freedesktop/NetworkManager/DnsManager";
/// The DNS manager's interface.
pub const DNS_MANAGER: &str = "org.freedesktop.NetworkManager.DnsManager";
/// A device's interface.
pub const DEVICE: &str = "org.freedesktop.NetworkManager.Device";

/// NetworkManager's DNS priority for our connection (lower is preferred). Higher than a LAN's
/// default (100; VPNs' is 50): the connection with the lowest value also gets every name no
/// routing domain matches, and our resolver refuses those in split mode (seen with a real
/// NetworkManager 1.42.4 and dnsmasq, `tests/networkmanager/e2e.sh`). The cluster's names reach it
/// through the `~` routing domains whatever the priority.
pub const DNS_PRIORITY: i32 = 200;

/// `Reapply`'s `preserve-external-ip` flag (NetworkManager 1.42 and later): addresses and routes
/// NetworkManager did not set (the tunnel's, set by kubewired) are kept. Without it, a Reapply
/// removes the tunnel's routes; an older NetworkManager refuses the flag, and the backend fails
/// with that error rather than risk them.
pub const REAPPLY_PRESERVE_EXTERNAL_IP: u32 = 0x1;

/// A connection's settings as `GetAppliedConnection` returns them and `Reapply` takes them.
pub type Settings = HashMap<String, HashMap<String, OwnedValue>>;

/// Whether NetworkManager's DNS mode sends names to the connection whose routing domain matches
/// (`dnsmasq`, `systemd-resolved`); in `default` mode it writes one resolv.conf for everyone.
pub fn split_capable(mode: &str) -> bool {
    matches!(mode.trim(), "dnsmasq" | "systemd-resolved")
}

fn value(v: Value<'_>) -> Result<OwnedValue, DnsError> {
    OwnedValue::try_from(v).map_err(|e| DnsError::Config(format!("NetworkManager setting: {e}")))
}

/// `search` suffixes, then `~zone` and `~<reverse zone>` routing domains, without repeats.
pub fn dns_search(settings: &SplitDnsSettings) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let clean = |d: &str| d.trim_end_matches('.').to_owned();
    for d in settings.search.iter().map(|d| clean(d)) {
        if !d.is_empty() && !out.contains(&d) {
            out.push(d);
        }
    }
    for d in std::iter::once(&settings.zone).chain(&settings.reverse_zones) {
        let d = format!("~{}", clean(d));
        if d.len() > 1 && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Keys NetworkManager returns from `GetAppliedConnection` but refuses in `Reapply` (deprecated
/// forms of `address-data`, `route-data`).
const NOT_REAPPLIABLE: [&str; 2] = ["addresses", "routes"];

fn clean_for_reapply(applied: &mut Settings) {
    for family in ["ipv4", "ipv6"] {
        if let Some(group) = applied.get_mut(family) {
            for key in NOT_REAPPLIABLE {
                group.remove(key);
            }
        }
    }
}

/// `applied` with our DNS: the resolver in its family's `dns` (IPv4: `au`, each address's bytes in
/// network order; IPv6: `aay`), `dns-search`, `dns-priority`; the other family's DNS left empty.
pub fn with_our_dns(mut applied: Settings, settings: &SplitDnsSettings) -> Result<Settings, DnsError> {
    clean_for_reapply(&mut applied);
    let search = dns_search(settings);
    let (ours, other) = match settings.resolver.ip() {
        IpAddr::V4(a) => (
            ("ipv4", value(Value::from(vec![u32::from_ne_bytes(a.octets())]))?),
            "ipv6",
        ),
        IpAddr::V6(a) => (("ipv6", value(Value::from(vec![a.octets().to_vec()]))?), "ipv4"),
    };
    let group = applied.entry(ours.0.to_owned()).or_default();
    group.insert("dns".into(), ours.1);
    group.insert("dns-search".into(), value(Value::from(search))?);
    group.insert("dns-priority".into(), value(Value::from(DNS_PRIORITY))?);
    group.insert("ignore-auto-dns".into(), value(Value::from(true))?);
    if let Some(group) = applied.get_mut(other) {
        for key in ["dns", "dns-search", "dns-priority"] {
            group.remove(key);
        }
    }
    Ok(applied)
}

/// `applied` without any DNS of ours (revert): the device keeps its addresses and routes.
pub fn without_our_dns(mut applied: Settings) -> Settings {
    clean_for_reapply(&mut applied);
    for family in ["ipv4", "ipv6"] {
        if let Some(group) = applied.get_mut(family) {
            for key in ["dns", "dns-search", "dns-priority", "ignore-auto-dns"] {
                group.remove(key);
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(resolver: &str) -> SplitDnsSettings {
        SplitDnsSettings {
            interface: "wg0".into(),
            resolver: resolver.parse().unwrap(),
            zone: "cluster.local.".into(),
            reverse_zones: vec!["42.10.in-addr.arpa".into(), "cluster.local".into()],
            search: vec!["default.svc.cluster.local".into(), "svc.cluster.local".into()],
        }
    }

    fn applied() -> Settings {
        let mut ipv4 = HashMap::new();
        ipv4.insert("method".to_owned(), value(Value::from("manual")).unwrap());
        ipv4.insert(
            "addresses".to_owned(),
            value(Value::from(vec![vec![1u32, 32, 0]])).unwrap(),
        );
        let mut ipv6 = HashMap::new();
        ipv6.insert(
            "dns-search".to_owned(),
            value(Value::from(vec!["old.example"])).unwrap(),
        );
        let mut connection = HashMap::new();
        connection.insert("id".to_owned(), value(Value::from("wg0")).unwrap());
        Settings::from([
            ("ipv4".to_owned(), ipv4),
            ("ipv6".to_owned(), ipv6),
            ("connection".to_owned(), connection),
        ])
    }

    fn get<T: TryFrom<OwnedValue>>(s: &Settings, family: &str, key: &str) -> Option<T> {
        s.get(family)?.get(key)?.try_clone().ok()?.try_into().ok()
    }

    #[test]
    fn cluster_names_route_to_the_resolver_on_the_tunnel_device() {
        let out = with_our_dns(applied(), &settings("10.4.0.99:53")).unwrap();
        let dns: Vec<u32> = get(&out, "ipv4", "dns").unwrap();
        assert_eq!(dns, [u32::from_ne_bytes([10, 4, 0, 99])]);
        let search: Vec<String> = get(&out, "ipv4", "dns-search").unwrap();
        assert_eq!(
            search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "~cluster.local",
                "~42.10.in-addr.arpa"
            ]
        );
        assert_eq!(get::<i32>(&out, "ipv4", "dns-priority"), Some(DNS_PRIORITY));
        assert_eq!(get::<bool>(&out, "ipv4", "ignore-auto-dns"), Some(true));
        assert_eq!(get::<String>(&out, "ipv4", "method").as_deref(), Some("manual"));
        assert!(!out["ipv4"].contains_key("addresses"), "Reapply refuses it");
        assert!(!out["ipv6"].contains_key("dns-search"));
        assert!(out.contains_key("connection"));

        let back = without_our_dns(out);
        assert!(!back["ipv4"].contains_key("dns") && !back["ipv4"].contains_key("dns-search"));
        assert_eq!(get::<String>(&back, "ipv4", "method").as_deref(), Some("manual"));
    }

    #[test]
    fn an_ipv6_resolver_goes_to_ipv6_dns_as_bytes() {
        let out = with_our_dns(applied(), &settings("[fd00::53]:53")).unwrap();
        let dns: Vec<Vec<u8>> = get(&out, "ipv6", "dns").unwrap();
        assert_eq!(
            dns,
            [("fd00::53"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec())]
        );
        assert!(!out["ipv4"].contains_key("dns"));
    }

    #[test]
    fn only_split_capable_modes_are_used() {
        assert!(split_capable("dnsmasq"));
        assert!(split_capable("systemd-resolved"));
        for mode in ["default", "none", "unmanaged", ""] {
            assert!(!split_capable(mode), "{mode}");
        }
    }
}
