//! `kubewire bug-report` while connected (a background controller, the API test server, a daemon
//! stand-in): one archive with every part, and neither the laptop's private key nor the
//! kubeconfig's bearer token anywhere in it, also when a log line leaked them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod support;

use std::path::Path;

use kubewire_apiserver::testing::{TOKEN, TestServer};
use support::fake_daemon::FakeDaemon;
use support::user::{Env, output, text};

/// Every file of the archive at `path`, unpacked by the system's `tar`, as `(name, text)`.
fn unpack(path: &Path, into: &Path) -> Vec<(String, String)> {
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(path)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf failed");
    let mut out = Vec::new();
    let mut dirs = vec![into.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = path.strip_prefix(into).unwrap().to_string_lossy().into_owned();
                out.push((
                    name,
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_has_every_part_and_no_private_key_or_token() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    ts.add_node("gcp", 2);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(env.command_with(&daemon.socket, &["connect", "--detach", "--kubeconfig", &kc])).await;
    assert!(o.status.success(), "{}", text(&o).1);
    let keys = env.private_keys();
    assert_eq!(keys.len(), 1, "the laptop's key is stored");
    let private = keys[0].clone();

    // A log line that leaked both (a bug elsewhere must not become a leak here), in the controller's
    // log and in the daemon's.
    let leak = format!("2026-12-07T10:00:00Z DEBUG request Authorization: Bearer {TOKEN} key={private}\n");
    let controller_log = env.dir.path().join("state/controller.log");
    let mut log = std::fs::read_to_string(&controller_log).unwrap();
    log.push_str(&leak);
    std::fs::write(&controller_log, log).unwrap();
    let daemon_log = env.dir.path().join("kubewired.log");
    std::fs::write(&daemon_log, format!("PrivateKey = {private}\n{leak}")).unwrap();

    let archive = env.dir.path().join("report.tar.gz");
    let o = output(env.command_with(
        &daemon.socket,
        &[
            "bug-report",
            "--kubeconfig",
            &kc,
            "--output",
            archive.to_str().unwrap(),
            "--daemon-log",
            daemon_log.to_str().unwrap(),
        ],
    ))
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("secrets removed"), "{err}");
    let unpacked = env.dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let files = unpack(&archive, &unpacked);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for part in [
        "README.txt",
        "versions.txt",
        "status.json",
        "showconf.txt",
        "doctor.json",
        "plan.json",
        "controller.log",
        "daemon.log",
        "system/ip-route.txt",
        "system/resolv.conf",
    ] {
        assert!(
            names.contains(&format!("kubewire-bug-report/{part}").as_str()),
            "{part} missing: {names:?}"
        );
    }
    for (name, content) in &files {
        assert!(
            !content.contains(&private),
            "{name} holds the private key:\n{content}"
        );
        assert!(
            !content.contains(TOKEN),
            "{name} holds the bearer token:\n{content}"
        );
    }
    let file = |part: &str| {
        files
            .iter()
            .find(|(n, _)| n == &format!("kubewire-bug-report/{part}"))
            .map(|(_, c)| c.clone())
            .unwrap()
    };
    // What a maintainer reads is there: the status, the checks, the Plan with its public keys.
    let status: serde_json::Value = serde_json::from_str(&file("status.json")).unwrap();
    assert_eq!(status["state"], "connected", "{status}");
    let doctor: serde_json::Value = serde_json::from_str(&file("doctor.json")).unwrap();
    assert!(doctor["checks"].as_array().unwrap().len() >= 5, "{doctor}");
    let plan = kubewire_core::render::json::parse(&file("plan.json")).unwrap();
    assert_eq!(plan.peers.len(), 2);
    assert!(
        file("plan.json").contains(&plan.peers[0].public_key.to_string()),
        "public keys stay"
    );
    assert!(file("controller.log").contains("[redacted]"));
    assert!(
        file("daemon.log").starts_with("PrivateKey = [redacted]"),
        "{}",
        file("daemon.log")
    );

    let o = output(env.command_with(&daemon.socket, &["disconnect"])).await;
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn without_a_daemon_or_cluster_the_report_still_says_what_it_could_not_get() {
    let env = Env::new();
    let archive = env.dir.path().join("r.tar.gz");
    let o = env.run(&["bug-report", "--output", archive.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let unpacked = env.dir.path().join("u");
    std::fs::create_dir(&unpacked).unwrap();
    let files = unpack(&archive, &unpacked);
    let status = files
        .iter()
        .find(|(n, _)| n.ends_with("status.json"))
        .map(|(_, c)| c.clone())
        .unwrap();
    assert!(status.contains("the daemon did not answer"), "{status}");
    let plan = files
        .iter()
        .find(|(n, _)| n.ends_with("plan.json"))
        .map(|(_, c)| c.clone())
        .unwrap();
    assert!(plan.starts_with("no plan"), "{plan}");
}
