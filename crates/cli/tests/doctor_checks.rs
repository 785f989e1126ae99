//! `kubewire doctor` on a connected laptop (the API test server and a stand-in daemon): a healthy
//! connection warns about nothing the user need act on (the laptop's own Peer is not a warning), the
//! clock is checked against the API server, and a cluster range a local network took is named with
//! the command that routes it anyway.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod support;

use std::process::Output;

use kubewire_apiserver::testing::TestServer;
use support::fake_daemon::FakeDaemon;
use support::user::{command, output};

fn checks(o: &Output) -> Vec<serde_json::Value> {
    let out = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["checks"].as_array().unwrap().clone()
}

/// The API test server with one node, a user and a stand-in daemon, connected in the background.
async fn connected() -> (TestServer, tempfile::TempDir, FakeDaemon, String) {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let dir = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(command(
        dir.path(),
        &daemon.socket,
        &["connect", "--detach", "--kubeconfig", &kc],
    ))
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (ts, dir, daemon, kc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_laptop_is_not_warned_about_its_own_peer_and_the_clock_is_checked() {
    let (_server, dir, daemon, kc) = connected().await;

    let o = output(command(
        dir.path(),
        &daemon.socket,
        &["doctor", "--json", "--kubeconfig", &kc],
    ))
    .await;
    let checks = checks(&o);
    assert!(o.status.success(), "{checks:#?}");
    for c in &checks {
        assert!(
            !c["detail"].as_str().unwrap().contains("the laptop's own Peer"),
            "the laptop's own Peer is expected, not a warning: {c}"
        );
    }
    let clock = checks
        .iter()
        .find(|c| c["name"] == "clock")
        .unwrap_or_else(|| panic!("no clock check: {checks:#?}"));
    assert_eq!(clock["status"], "ok", "{clock}");
    assert!(
        clock["detail"].as_str().unwrap().contains("API server"),
        "{clock}"
    );
    let text = output(command(
        dir.path(),
        &daemon.socket,
        &["doctor", "--kubeconfig", &kc],
    ))
    .await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(!text.contains("own Peer"), "{text}");

    let o = output(command(dir.path(), &daemon.socket, &["disconnect"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_a_local_network_took_is_named_with_the_command() {
    let (_server, dir, daemon, kc) = connected().await;
    daemon.seen.lock().unwrap().withdrawn = vec![kubewire_core::lan_yield::Withdrawn {
        range: "10.42.0.0/24".parse().unwrap(),
        peer: "aws".into(),
        local: "10.42.0.0/16".parse().unwrap(),
        interface: Some("wlan0".into()),
    }];
    let o = output(command(
        dir.path(),
        &daemon.socket,
        &["doctor", "--json", "--kubeconfig", &kc],
    ))
    .await;
    let checks = checks(&o);
    let overlap = checks
        .iter()
        .find(|c| c["name"] == "local networks")
        .unwrap_or_else(|| panic!("no local networks check: {checks:#?}"));
    assert_eq!(overlap["status"], "fail", "{overlap}");
    let detail = overlap["detail"].as_str().unwrap();
    assert!(
        detail.contains("10.42.0.0/24") && detail.contains("10.42.0.0/16") && detail.contains("wlan0"),
        "{overlap}"
    );
    assert!(
        overlap["fix"]
            .as_str()
            .unwrap()
            .contains("kubewire connect --prefer-tunnel 10.42.0.0/24"),
        "{overlap}"
    );
    assert_eq!(o.status.code(), Some(1));
    let o = output(command(dir.path(), &daemon.socket, &["disconnect"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expose_this_user_may_not_make_is_explained_with_who_can_fix_it() {
    let (server, dir, daemon, kc) = connected().await;
    let expose_check = async || {
        let o = output(command(
            dir.path(),
            &daemon.socket,
            &["doctor", "--json", "--kubeconfig", &kc],
        ))
        .await;
        let checks = checks(&o);
        checks
            .iter()
            .find(|c| c["name"] == "expose")
            .cloned()
            .unwrap_or_else(|| panic!("no expose check: {checks:#?}"))
    };
    let check = expose_check().await;
    assert_eq!(check["status"], "ok", "{check}");
    // RBAC without create on Services (as many developers' roles are): said before any expose fails.
    server.store.forbid("create", "", "services");
    let check = expose_check().await;
    assert_eq!(check["status"], "warn", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains("`kubewire expose` would fail") && detail.contains("services"),
        "{check}"
    );
    assert!(
        !detail.contains("endpointslices"),
        "only what is missing is named: {check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("ask a cluster admin"),
        "{check}"
    );
    let o = output(command(dir.path(), &daemon.socket, &["disconnect"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
