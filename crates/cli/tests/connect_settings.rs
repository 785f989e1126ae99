//! `connect` takes the settings `plan` takes: `--address`, `--persistent-keepalive`,
//! `--topology-label` (the API test server and a stand-in daemon). An address the policy refuses is
//! bad input: named, and nothing registered.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use kubewire_apiserver::testing::TestServer;
use support::fake_daemon::FakeDaemon;
use support::user::{Env, output, text};

fn peers(ts: &TestServer) -> Vec<serde_json::Value> {
    ts.store.list("kilo.squat.ai/v1alpha1", "Peer", None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_registers_the_address_and_keepalive_it_is_given() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let log = env.dir.path().join("connect.jsonl");
    let args = [
        "connect",
        "--json",
        "--kubeconfig",
        &kc,
        "--address",
        "10.4.200.7/32",
        "--persistent-keepalive",
        "7",
        "--topology-label",
        "topology.kubernetes.io/region",
    ];
    let mut child = env
        .command_with(&daemon.socket, &args)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("\"connected\"")) {
        assert!(
            start.elapsed() < Duration::from_secs(30) && child.try_wait().unwrap().is_none(),
            "connect did not connect: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registered = peers(&ts);
    assert_eq!(registered.len(), 1, "{registered:?}");
    let spec = &registered[0]["spec"];
    assert_eq!(spec["allowedIPs"], serde_json::json!(["10.4.200.7/32"]), "{spec}");
    assert_eq!(spec["persistentKeepalive"], 7, "{spec}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_outside_the_rules_is_refused_naming_it_and_nothing_is_registered() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(env.command_with(
        &daemon.socket,
        &["connect", "--kubeconfig", &kc, "--address", "8.8.8.8/32"],
    ))
    .await;
    let (out, err) = text(&o);
    assert!(!o.status.success(), "a public address was taken: {out}{err}");
    assert!(err.contains("8.8.8.8"), "the error names the address: {err}");
    assert!(peers(&ts).is_empty(), "nothing registered: {:?}", peers(&ts));
}
