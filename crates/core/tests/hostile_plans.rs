//! The user's allow-list, and the daemon's re-check of a Plan a group member wrote by hand: whatever
//! it says, no default route, nothing broader than /8, no loopback, link-local or multicast, no public
//! range outside the allow-list, no public or local laptop address, no public DNS zone, no server
//! outside the routed ranges, no control characters, no strange interface names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{key, kube_dns, node, with};
use ipnet::IpNet;
use kubewire_core::plan::RefusalReason;
use kubewire_core::policy::{PlanRejected, check_received, routes};
use kubewire_core::{Plan, PlanError, PlanRequest, Snapshot, plan};

const NOW: i64 = 1010;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn laptop() -> PlanRequest {
    let mut r = PlanRequest::new(key(999).parse().unwrap());
    r.settings.service_cidrs = vec![net("10.43.0.0/16")];
    r
}

fn cluster(location_ips: &str) -> Snapshot {
    let a = with(
        with(
            node(
                "a1",
                1,
                "a",
                "198.51.100.1:51820",
                Some("192.168.10.1/24"),
                "10.42.1.0/24",
            ),
            "wireguard-ip",
            "10.4.0.1/16",
        ),
        "allowed-location-ips",
        location_ips,
    );
    Snapshot::from_sources(&[a], &[], &[kube_dns("10.43.0.10")])
}

fn good_plan() -> Plan {
    plan(&cluster("172.20.0.0/16"), &laptop(), NOW).unwrap()
}

#[test]
fn the_allow_list_lets_exactly_its_ranges_through() {
    let mut request = laptop();
    request.settings.allowed_public_ranges = vec![net("1.0.0.0/8")];
    let p = plan(&cluster("1.0.0.0/8,2.0.0.0/8"), &request, NOW).unwrap();
    assert!(p.routes.contains(&net("1.0.0.0/8")));
    assert!(!p.routes.contains(&net("2.0.0.0/8")));
    assert_eq!(p.policy.allowed_public_ranges, vec![net("1.0.0.0/8")]);
    // The daemon's re-check agrees with the planner.
    let checked = check_received(p.clone(), &[]).unwrap();
    assert_eq!(checked.routes, p.routes);
}

#[test]
fn a_default_route_or_half_the_internet_cannot_be_allowed() {
    for broad in ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "::/0"] {
        let mut request = laptop();
        request.settings.allowed_public_ranges = vec![net(broad)];
        let err = plan(&cluster("172.20.0.0/16"), &request, NOW).unwrap_err();
        assert!(matches!(err, PlanError::AllowList(_)), "{broad}: {err}");
        assert!(err.to_string().contains("broader than /8"), "{err}");
    }
}

#[test]
fn a_hand_written_plan_with_a_public_range_is_refused_whole() {
    let mut p = good_plan();
    p.peers[0].allowed_ips.push(net("1.0.0.0/8"));
    p.routes = routes(&p.peers);
    match check_received(p, &[]) {
        Err(PlanRejected::Refused(r)) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].range, net("1.0.0.0/8"));
            assert_eq!(r[0].reason, RefusalReason::PublicRange);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_allow_list_in_a_hand_written_plan_cannot_open_a_default_route() {
    for (allow, range) in [
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("0.0.0.0/1", "0.0.0.0/1"),
        ("127.0.0.0/8", "127.0.0.0/8"),
        ("224.0.0.0/4", "224.0.0.0/8"),
        ("169.254.0.0/16", "169.254.0.0/16"),
    ] {
        let mut p = good_plan();
        p.policy.allowed_public_ranges = vec![net(allow)];
        p.peers[0].allowed_ips.push(net(range));
        p.routes = routes(&p.peers);
        let err = check_received(p, &[]).unwrap_err();
        assert!(matches!(err, PlanRejected::AllowList(_)), "{allow}: {err}");
        // Without the allow-list entry, the range itself is refused.
        let mut p = good_plan();
        p.peers[0].allowed_ips.push(net(range));
        p.routes = routes(&p.peers);
        assert!(
            matches!(check_received(p, &[]), Err(PlanRejected::Refused(_))),
            "{range}"
        );
    }
}

#[test]
fn a_hand_written_plan_with_a_bad_address_is_refused() {
    let lan = [net("192.168.1.0/24"), net("0.0.0.0/0")];
    for (address, local, expect) in [
        (
            "192.168.1.1/32",
            &lan[..],
            "inside this machine's network 192.168.1.0/24",
        ),
        ("8.8.8.8/32", &[][..], "8.8.8.8 is not a private-use address"),
        (
            "10.5.0.1/32",
            &[][..],
            "outside the cluster's Kilo subnet 10.4.0.0/16",
        ),
        ("10.4.0.0/24", &[][..], "not a single address"),
    ] {
        let mut p = good_plan();
        p.interface.address = net(address);
        let err = check_received(p, local).unwrap_err();
        assert!(matches!(err, PlanRejected::Address(_)), "{address}: {err}");
        assert!(err.to_string().contains(expect), "{address}: {err}");
    }
}

type Tamper = Box<dyn Fn(&mut Plan)>;

#[test]
fn a_hand_written_plan_with_bad_dns_fields_is_refused() {
    let cases: Vec<(&str, Tamper)> = vec![
        ("com", Box::new(|p| p.dns.zone = "com".into())),
        (".", Box::new(|p| p.dns.zone = ".".into())),
        ("", Box::new(|p| p.dns.zone = String::new())),
        ("co.uk", Box::new(|p| p.dns.zone = "co.uk".into())),
        (
            "newline",
            Box::new(|p| p.dns.zone = "cluster.local\nnameserver 1.1.1.1".into()),
        ),
        (
            "quote",
            Box::new(|p| p.dns.search = vec!["default.svc.cluster.local\"".into()]),
        ),
        ("search outside", Box::new(|p| p.dns.search = vec!["com".into()])),
        (
            "server outside",
            Box::new(|p| p.dns.server = Some("8.8.8.8".parse().unwrap())),
        ),
        (
            "server on the lan",
            Box::new(|p| p.dns.server = Some("192.168.1.1".parse().unwrap())),
        ),
    ];
    for (name, tamper) in cases {
        let mut p = good_plan();
        tamper(&mut p);
        let err = check_received(p, &[]).unwrap_err();
        assert!(matches!(err, PlanRejected::Dns(_)), "{name}: {err}");
        assert!(!err.to_string().contains('\n'), "{name}: {err}");
    }
    assert!(check_received(good_plan(), &[]).is_ok());
}

#[test]
fn a_hand_written_plan_with_a_bad_interface_name_is_refused() {
    for name in [
        "../../etc/passwd",
        "a/b",
        "..",
        "kw\0",
        "sixteen-chars-xx",
        "-x",
        "kw 0",
        "",
    ] {
        let mut p = good_plan();
        p.interface.name = name.into();
        let err = check_received(p, &[]).unwrap_err();
        assert!(matches!(err, PlanRejected::InterfaceName(_)), "{name:?}: {err}");
    }
}

#[test]
fn reports_in_a_hand_written_plan_are_capped() {
    let mut p = good_plan();
    let d = p
        .diagnostics
        .first()
        .cloned()
        .unwrap_or_else(|| kubewire_core::Diagnostic::object(kubewire_core::ObjectRef::snapshot(), "x"));
    let mut huge = d;
    huge.message = "y".repeat(20_000);
    p.diagnostics = vec![huge; 2_000];
    let checked = check_received(p, &[]).unwrap();
    assert!(checked.diagnostics.len() <= 100);
    assert!(
        checked
            .diagnostics
            .iter()
            .all(|d| d.message.chars().count() <= 300)
    );
    assert!(serde_json::to_string(&checked).unwrap().len() < 100_000);
}
