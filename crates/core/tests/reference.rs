#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The reference example: the seed's four clouds must give exactly the expected wg-quick file.

mod common;

use std::path::PathBuf;

use common::conf;
use kubewire_core::render::wg_quick;
use kubewire_core::{GranularitySetting, PlanRequest, Snapshot, plan};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The request of the command on the expected file's first lines.
fn seed_request() -> PlanRequest {
    let mut request = PlanRequest::new("AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=".parse().unwrap());
    request.peer_name = Some("dev-laptop".into());
    request.address = Some("10.4.255.5/32".parse().unwrap());
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    request.settings.service_gateway = Some("aws".into());
    request.settings.granularity = GranularitySetting::Auto;
    // `kubewire plan`'s default (`connect` follows the underlay instead).
    request.settings.mtu = Some(1420);
    request
}

#[test]
fn seed_cluster_gives_the_expected_conf() {
    let snapshot = Snapshot::parse(&fixture("seed-cluster.yaml")).unwrap();
    let plan = plan(&snapshot, &seed_request(), 1_800_000_010).unwrap();
    let rendered = wg_quick::render(&plan, None);
    let expected = fixture("seed-cluster.expected.conf");
    assert_eq!(
        conf::parse(&rendered),
        conf::parse(&expected),
        "rendered:\n{rendered}\n{:#?}",
        plan.diagnostics
    );
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(plan.dns.server, Some("10.43.0.10".parse().unwrap()));
}

#[test]
fn seed_cluster_command_line_is_the_one_tested() {
    // The expected file names its command; keep this test's request in step with it.
    let expected = fixture("seed-cluster.expected.conf");
    let command: String = expected.lines().take(2).collect::<Vec<_>>().join(" ");
    for flag in [
        "--peer-name dev-laptop",
        "--public-key AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=",
        "--address 10.4.255.5/32",
        "--service-cidr 10.43.0.0/16",
        "--service-gateway aws",
        "--now 1800000010",
        "--format wg-quick",
    ] {
        assert!(command.contains(flag), "{flag} not in {command}");
    }
}

#[test]
fn seed_cluster_is_stale_a_minute_later() {
    let snapshot = Snapshot::parse(&fixture("seed-cluster.yaml")).unwrap();
    let err = plan(&snapshot, &seed_request(), 1_800_000_060).unwrap_err();
    assert!(
        matches!(err, kubewire_core::PlanError::NoReadyNodes { total: 4, .. }),
        "{err:?}"
    );
}
