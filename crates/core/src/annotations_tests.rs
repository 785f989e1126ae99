//! Unit tests: each Kilo annotation rule of the notes.

use super::*;
use crate::source::PeerEndpointSource;

const KEY_A: &str = "RpW5BMVyqpK4lGAHUXdXRwDPHcrE2KqzXnR9iXCbWmg=";

fn node(annotations: &[(&str, &str)]) -> NodeSource {
    NodeSource {
        name: "n1".into(),
        labels: BTreeMap::new(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect(),
        pod_cidrs: vec!["10.42.0.0/24".into()],
    }
}

fn fields(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| format!("{}|{}", d.object, d.field.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn force_endpoint_wins_and_dns_names_are_kept() {
    let (n, d) = parse_node(&node(&[
        ("endpoint", "198.51.100.1:51820"),
        ("force-endpoint", "aws.example.com:51821"),
    ]));
    assert_eq!(n.endpoint.unwrap().to_string(), "aws.example.com:51821");
    assert!(d.is_empty());
}

#[test]
fn invalid_force_endpoint_falls_back_and_is_reported() {
    let (n, d) = parse_node(&node(&[
        ("endpoint", "198.51.100.1:51820"),
        ("force-endpoint", "nope"),
    ]));
    assert_eq!(n.endpoint.unwrap().to_string(), "198.51.100.1:51820");
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/force-endpoint"]);
    assert!(d[0].message.contains("\"nope\""), "{}", d[0]);
}

#[test]
fn force_internal_ip_empty_or_dash_means_none() {
    for forced in ["", "-"] {
        let (n, d) = parse_node(&node(&[
            ("internal-ip", "192.168.1.34/24"),
            ("force-internal-ip", forced),
        ]));
        assert_eq!(n.internal_ip, None, "{forced:?}");
        assert!(d.is_empty());
    }
    let (n, _) = parse_node(&node(&[
        ("internal-ip", "192.168.1.34/24"),
        ("force-internal-ip", "10.0.0.9/16"),
    ]));
    assert_eq!(n.internal_ip, Some("10.0.0.9/16".parse().unwrap()));
    let (n, d) = parse_node(&node(&[
        ("internal-ip", "192.168.1.34/24"),
        ("force-internal-ip", "bogus"),
    ]));
    assert_eq!(n.internal_ip, Some("192.168.1.34/24".parse().unwrap()));
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/force-internal-ip"]);
}

#[test]
fn leader_is_presence_even_false() {
    assert!(parse_node(&node(&[("leader", "false")])).0.leader);
    assert!(parse_node(&node(&[("leader", "")])).0.leader);
    assert!(!parse_node(&node(&[])).0.leader);
}

#[test]
fn location_annotation_over_topology_label() {
    let mut source = node(&[]);
    source
        .labels
        .insert("topology.kubernetes.io/region".into(), "eu".into());
    source.labels.insert("my/zone".into(), "z1".into());
    let (n, _) = parse_node(&source);
    assert_eq!(n.location("topology.kubernetes.io/region"), "eu");
    assert_eq!(n.location("my/zone"), "z1");
    assert_eq!(n.location("absent/label"), "");
    source.annotations.insert(LOCATION.into(), "aws".into());
    let (n, _) = parse_node(&source);
    assert_eq!(n.location("topology.kubernetes.io/region"), "aws");
}

#[test]
fn persistent_keepalive_unparsable_is_zero() {
    let (n, d) = parse_node(&node(&[("persistent-keepalive", "10s")]));
    assert_eq!(n.persistent_keepalive, 0);
    assert!(!n.behind_nat());
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/persistent-keepalive"]);
    let (n, _) = parse_node(&node(&[("persistent-keepalive", "25")]));
    assert!(n.behind_nat());
}

#[test]
fn last_seen_unparsable_is_zero() {
    let (n, d) = parse_node(&node(&[("last-seen", "yesterday")]));
    assert_eq!(n.last_seen, 0);
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/last-seen"]);
}

#[test]
fn allowed_location_ips_skip_invalid_entries() {
    let (n, d) = parse_node(&node(&[(
        "allowed-location-ips",
        "192.168.0.0/24,bad, 10.9.0.0/16,172.16.5.1/16",
    )]));
    assert_eq!(
        n.allowed_location_ips,
        vec![
            "192.168.0.0/24".parse().unwrap(),
            "172.16.0.0/16".parse().unwrap()
        ]
    );
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d.iter()
            .all(|d| d.field.as_deref() == Some("kilo.squat.ai/allowed-location-ips"))
    );
}

#[test]
fn granularity_other_values_are_unset() {
    assert_eq!(
        parse_node(&node(&[("granularity", "location")])).0.granularity,
        Some(Granularity::Location)
    );
    assert_eq!(
        parse_node(&node(&[("granularity", "full")])).0.granularity,
        Some(Granularity::Full)
    );
    let (n, d) = parse_node(&node(&[("granularity", "cross")]));
    assert_eq!(n.granularity, None);
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/granularity"]);
}

#[test]
fn wireguard_ip_and_key() {
    let (n, d) = parse_node(&node(&[("wireguard-ip", "10.4.0.1/16"), ("key", KEY_A)]));
    assert_eq!(n.wireguard_ip, Some("10.4.0.1/16".parse().unwrap()));
    assert_eq!(n.key.unwrap().to_string(), KEY_A);
    assert!(d.is_empty());
    let (n, d) = parse_node(&node(&[("key", "short")]));
    assert_eq!(n.key, None);
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/key"]);
}

#[test]
fn discovered_endpoints_as_go_marshals_them() {
    let json = format!(r#"{{"{KEY_A}":{{"IP":"203.0.113.7","Port":40000,"Zone":""}}}}"#);
    let (n, d) = parse_node(&node(&[("discovered-endpoints", &json)]));
    assert_eq!(
        n.discovered_endpoints.get(KEY_A).unwrap().to_string(),
        "203.0.113.7:40000"
    );
    assert!(d.is_empty());
    let (n, d) = parse_node(&node(&[("discovered-endpoints", "{not json")]));
    assert!(n.discovered_endpoints.is_empty());
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/discovered-endpoints"]);
}

#[test]
fn unknown_kilo_annotations_are_reported() {
    let (_, d) = parse_node(&node(&[("leaders", "true")]));
    assert_eq!(fields(&d), ["node/n1|kilo.squat.ai/leaders"]);
}

#[test]
fn pod_cidr_is_the_first_and_invalid_is_reported() {
    let mut source = node(&[]);
    source.pod_cidrs = vec!["10.42.7.9/24".into(), "fd00:42::/64".into()];
    assert_eq!(
        parse_node(&source).0.pod_cidr,
        Some("10.42.7.0/24".parse().unwrap())
    );
    source.pod_cidrs = vec!["x".into()];
    let (n, d) = parse_node(&source);
    assert_eq!(n.pod_cidr, None);
    assert_eq!(fields(&d), ["node/n1|spec.podCIDR"]);
}

fn peer(allowed: &[&str], key: &str, endpoint: Option<PeerEndpointSource>) -> PeerSource {
    PeerSource {
        name: "p".into(),
        allowed_ips: allowed.iter().map(|s| (*s).to_owned()).collect(),
        public_key: key.into(),
        endpoint,
        persistent_keepalive: 0,
        has_preshared_key: false,
    }
}

#[test]
fn peers_failing_kilo_validation_are_ignored() {
    let (p, d) = parse_peer(&peer(&["10.5.0.1/32"], KEY_A, None));
    assert_eq!(p.unwrap().allowed_ips, vec!["10.5.0.1/32".parse().unwrap()]);
    assert!(d.is_empty());
    let (p, d) = parse_peer(&peer(&["10.5.0.1/32", "nope"], KEY_A, None));
    assert!(p.is_none());
    assert_eq!(fields(&d), ["peer/p|spec.allowedIPs[1]"]);
    assert!(d[0].message.ends_with("Kilo ignores this Peer"), "{}", d[0]);
    let (p, d) = parse_peer(&peer(&["10.5.0.1/32"], "bad", None));
    assert!(p.is_none());
    assert_eq!(fields(&d), ["peer/p|spec.publicKey"]);
    let (p, d) = parse_peer(&peer(&[], KEY_A, None));
    assert!(p.is_none());
    assert_eq!(fields(&d), ["peer/p|spec.allowedIPs"]);
}

#[test]
fn peer_endpoint_dns_over_ip_and_port_range() {
    let e = |dns: Option<&str>, ip: Option<&str>, port| PeerEndpointSource {
        dns: dns.map(str::to_owned),
        ip: ip.map(str::to_owned),
        port,
    };
    let (p, _) = parse_peer(&peer(
        &["10.5.0.1/32"],
        KEY_A,
        Some(e(Some("vpn.example.com"), Some("1.2.3.4"), 51820)),
    ));
    assert_eq!(p.unwrap().endpoint.unwrap().to_string(), "vpn.example.com:51820");
    let (p, _) = parse_peer(&peer(
        &["10.5.0.1/32"],
        KEY_A,
        Some(e(None, Some("1.2.3.4"), 51820)),
    ));
    assert_eq!(p.unwrap().endpoint.unwrap().to_string(), "1.2.3.4:51820");
    for port in [0, 70000, -1] {
        let (p, d) = parse_peer(&peer(
            &["10.5.0.1/32"],
            KEY_A,
            Some(e(None, Some("1.2.3.4"), port)),
        ));
        assert!(p.is_none(), "port {port}");
        assert_eq!(fields(&d), ["peer/p|spec.endpoint.port"]);
    }
    let (p, d) = parse_peer(&peer(&["10.5.0.1/32"], KEY_A, Some(e(None, Some("nope"), 51820))));
    assert!(p.is_none());
    assert_eq!(fields(&d), ["peer/p|spec.endpoint.dnsOrIP"]);
    // An invalid DNS name passes Kilo's validation but gives no endpoint.
    let (p, d) = parse_peer(&peer(
        &["10.5.0.1/32"],
        KEY_A,
        Some(e(Some("Bad_Name"), None, 51820)),
    ));
    assert_eq!(p.unwrap().endpoint, None);
    assert_eq!(fields(&d), ["peer/p|spec.endpoint.dnsOrIP.dns"]);
}
