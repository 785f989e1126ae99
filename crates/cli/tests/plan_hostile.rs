//! `kubewire plan` on a cluster or settings that would hijack the laptop: it refuses with a message
//! naming the culprit, prints no plan, and never routes a public range it was not allowed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

const KEY: &str = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=";

fn seed() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/seed-cluster.yaml")
        .to_str()
        .unwrap()
        .to_owned()
}

fn plan(extra: &[&str]) -> Output {
    let seed = seed();
    let mut args = vec![
        "plan",
        "--snapshot",
        &seed,
        "--public-key",
        KEY,
        "--now",
        "1800000010",
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_kubewire"))
        .args(&args)
        .output()
        .expect("run kubewire")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_users_router_as_address_is_refused_with_its_name() {
    let out = plan(&["--address", "192.168.1.1/32", "--local-route", "192.168.1.0/24"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "a plan was printed");
    assert!(
        err.contains("the laptop address 192.168.1.1 is inside this machine's network 192.168.1.0/24"),
        "{err}"
    );
}

#[test]
fn a_public_address_is_refused_with_its_name() {
    let out = plan(&["--address", "8.8.8.8/32"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "a plan was printed");
    assert!(err.contains("8.8.8.8 is not a private-use address"), "{err}");
}

#[test]
fn a_public_suffix_as_zone_is_refused() {
    let out = plan(&["--dns-zone", "com"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cluster zone \"com\" is refused"), "{err}");
}

#[test]
fn a_half_internet_allow_list_is_a_usage_error() {
    let out = plan(&["--allow-public-range", "0.0.0.0/1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("broader than /8"), "{err}");
}

#[test]
fn a_public_service_cidr_is_dropped_unless_allowed() {
    let out = plan(&["--service-cidr", "10.43.0.0/16", "--service-cidr", "9.9.0.0/16"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let conf = String::from_utf8(out.stdout).unwrap();
    assert!(!conf.contains("9.9.0.0/16"), "{conf}");
    assert!(conf.contains("10.43.0.0/16"), "{conf}");
    assert!(
        err.contains("refused 9.9.0.0/16") && err.contains("--allow-public-range"),
        "{err}"
    );
    let out = plan(&[
        "--service-cidr",
        "9.9.0.0/16",
        "--allow-public-range",
        "9.9.0.0/16",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("9.9.0.0/16"));
}
