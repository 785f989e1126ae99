//! `--json` as a script reads it: `doctor --json`, `showconf --json`, `status --json`,
//! `contexts --json`, `graph --json`, `connect --json` (one object a line), and that no key or token is in any of
//! them; `connect --detach` shows the steps and no log line of the background process.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kubewire_apiserver::testing::{TOKEN, TestServer};
use support::fake_daemon::FakeDaemon;
use support::user::{Env, output, text};

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_no_secret(what: &str, json: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !json.contains(s.as_str()),
            "{what} contains a secret ({s:.6}…): {json}"
        );
    }
}

/// A line as `tracing`'s formatter writes it: a timestamp, then a level.
fn looks_like_a_log_line(line: &str) -> bool {
    let plain: String = {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let words: Vec<&str> = plain.split_whitespace().take(3).collect();
    let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
    words.iter().any(|w| levels.contains(w))
        && words
            .first()
            .is_some_and(|w| w.len() >= 19 && w.as_bytes().get(4) == Some(&b'-'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_json_has_exactly_the_schema_and_no_secret() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    // No daemon: one check fails, the exit code stays 1.
    let o = output(env.command_with(
        &env.dir.path().join("none.sock"),
        &["doctor", "--json", "--kubeconfig", &kc],
    ))
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let object = v.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["checks"], "{v}");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 5, "{v}");
    for c in checks {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "fix", "name", "status"], "{c}");
        assert!(c["name"].is_string() && c["detail"].is_string(), "{c}");
        assert!(
            ["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        assert!(c["fix"].is_null() || c["fix"].is_string(), "{c}");
    }
    let daemon = checks
        .iter()
        .find(|c| c["name"] == "daemon reachable and authorised")
        .unwrap();
    assert_eq!(daemon["status"], "fail");
    assert!(
        daemon["fix"]
            .as_str()
            .unwrap()
            .contains("systemctl start kubewired"),
        "{daemon}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "API server reachable" && c["status"] == "ok"),
        "{v}"
    );
    assert_no_secret("doctor --json", &out, &[TOKEN.to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn showconf_json_parses_and_drops_every_key() {
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let secret = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=".to_owned();
    let psk = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=".to_owned();
    daemon.seen.lock().unwrap().showconf = Some(format!(
        "[Interface]\nPrivateKey = {secret}\nAddress = 10.4.0.9/32\nMTU = 1420\n\n[Peer]\n# aws\n\
         PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nPresharedKey = {psk}\n\
         Endpoint = 192.0.2.1:51820\nAllowedIPs = 10.42.0.0/24, 10.4.0.1/32\nPersistentKeepalive = 25\n"
    ));
    let o = output(env.command_with(&daemon.socket, &["showconf", "--json"])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(v["interface"]["address"], "10.4.0.9/32", "{v}");
    assert_eq!(v["interface"]["mtu"], "1420", "{v}");
    let peer = &v["peers"][0];
    assert_eq!(peer["name"], "aws", "{v}");
    assert_eq!(peer["endpoint"], "192.0.2.1:51820", "{v}");
    assert_eq!(
        peer["allowed_ips"],
        serde_json::json!(["10.42.0.0/24", "10.4.0.1/32"]),
        "{v}"
    );
    assert_no_secret("showconf --json", &out, &[secret.clone(), psk.clone()]);
    // The text form never shows them either.
    let o = output(env.command_with(&daemon.socket, &["showconf"])).await;
    assert_no_secret("showconf", &text(&o).0, &[secret, psk]);
}

fn connect_json(env: &Env, socket: &Path, kc: &str, log: &Path) -> Child {
    env.command_with(socket, &["connect", "--json", "--kubeconfig", kc])
        .env("KUBEWIRE_LOG", "debug")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_json_has_the_laptop_and_a_tunnel_to_every_segment() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    ts.add_node("gcp", 2);
    let env = Env::new();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(env.command(&["graph", "--json", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["id"], "laptop", "{v}");
    for node in ["aws", "gcp"] {
        assert!(
            nodes.iter().any(|n| n["id"] == node && n["kind"] == "leader"),
            "{node} is not a leader node: {v}"
        );
        assert!(
            v["edges"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["from"] == "laptop" && e["to"] == node && e["kind"] == "tunnel"),
            "no tunnel to {node}: {v}"
        );
    }
    assert_eq!(
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["service_gateway"] == true)
            .count(),
        1,
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_json_is_one_object_a_line_and_no_json_holds_a_secret() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let log: PathBuf = env.dir.path().join("connect.jsonl");
    let child = connect_json(&env, &daemon.socket, &kc, &log);
    // The first handshake's step follows "connected" (the controller sees it a moment later).
    wait_until("the first handshake", || {
        std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("\"connected\"") && t.contains("first-handshake"))
    })
    .await;
    let lines = std::fs::read_to_string(&log).unwrap();
    let mut steps = Vec::new();
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert!(v["text"].is_string(), "every line has its text: {v}");
        if let Some(step) = v.get("step") {
            steps.push(step.as_str().unwrap().to_owned());
            assert!(v["ms"].is_u64() && v["detail"].is_string(), "{v}");
        } else {
            assert!(v["event"].is_string(), "neither step nor event: {v}");
        }
    }
    assert_eq!(
        steps,
        [
            "kubeconfig",
            "api-reachable",
            "kilo-present",
            "key",
            "peer-registered",
            "planned",
            "applied",
            "first-handshake"
        ],
        "{lines}"
    );
    let mut secrets = env.private_keys();
    assert!(!secrets.is_empty(), "the test must know the laptop's key");
    secrets.push(TOKEN.to_owned());
    assert_no_secret("connect --json", &lines, &secrets);
    for args in [
        &["status", "--json"][..],
        &["showconf", "--json"],
        &["contexts", "--json", "--kubeconfig", &kc],
        &["graph", "--json", "--kubeconfig", &kc],
    ] {
        let o = output(env.command_with(&daemon.socket, args)).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_no_secret(&format!("{args:?}"), &out, &secrets);
    }
    let o = output(env.command_with(&daemon.socket, &["doctor", "--json", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_no_secret("doctor --json", &out, &secrets);

    // Ctrl-C, as in a terminal.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        lines.lines().last().unwrap().contains("\"disconnected\""),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_detach_shows_the_steps_and_no_log_line() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    // The background process logs at info (the default), here at debug: none of it is relayed.
    for level in [None, Some("debug")] {
        let mut c = env.command_with(&daemon.socket, &["connect", "--detach", "--kubeconfig", &kc]);
        if let Some(level) = level {
            c.env("KUBEWIRE_LOG", level);
        }
        let o = output(c).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        for line in out.lines().chain(err.lines()) {
            assert!(
                !looks_like_a_log_line(line),
                "a log line of the background process ({level:?}): {line}\n{err}"
            );
        }
        for step in [
            "✓ kubeconfig",
            "✓ key pair",
            "✓ plan applied",
            "✓ first handshake",
            "connected in",
        ] {
            assert!(err.contains(step), "{step} missing ({level:?}):\n{err}");
        }
        // The log file keeps the background process's own log lines.
        let log = std::fs::read_to_string(env.dir.path().join("state/controller.log")).unwrap();
        assert!(
            log.lines().any(looks_like_a_log_line),
            "the controller's log has its log lines:\n{log}"
        );
        let o = output(env.command_with(&daemon.socket, &["disconnect"])).await;
        assert!(o.status.success(), "{}", text(&o).1);
    }
}
