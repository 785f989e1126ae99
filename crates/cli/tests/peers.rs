//! Peers an admin provides and Peers left behind, as a user meets them: a user who may not create
//! Peers is told to `kubewire enroll --print`; the printed Peer, once an admin applied it, is used by
//! `connect` as it is (never written, never deleted); `kubewire peers` lists kubewire's Peers and
//! `peers prune` removes only kubewire's stale ones, never this laptop's (the API test server with its
//! RBAC refusals, a stand-in daemon).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kubewire_apiserver::testing::{TestServer, unix_now};
use serde_json::{Value, json};
use support::fake_daemon::FakeDaemon;
use support::user::{Env, output, text};

const DAY: u64 = 86_400;

fn peers(ts: &TestServer) -> Vec<Value> {
    ts.store.list("kilo.squat.ai/v1alpha1", "Peer", None)
}

fn forbid_writing_peers(ts: &TestServer) {
    for verb in ["create", "update", "patch", "delete"] {
        ts.store.forbid(verb, "kilo.squat.ai", "peers");
    }
}

fn connect_json(env: &Env, socket: &Path, kc: &str, log: &Path) -> Child {
    env.command_with(socket, &["connect", "--json", "--kubeconfig", kc])
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_connected(child: &mut Child, log: &Path) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("\"connected\"") {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30) && child.try_wait().unwrap().is_none(),
            "connect did not connect: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ctrl_c(child: Child) {
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
}

/// `kubewire enroll --print`: the Peer as YAML, and nothing changed in the cluster.
async fn enroll(env: &Env, kc: &str, ts: &TestServer) -> Value {
    let before = peers(ts);
    let o = output(env.command(&["enroll", "--print", "--kubeconfig", kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(peers(ts), before, "enroll changes nothing in the cluster");
    serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_rights_enrolls_and_connect_uses_the_admins_peer_without_writing_it() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    forbid_writing_peers(&ts);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();

    // No rights, no Peer: the error says what to do.
    let o = output(env.command_with(&daemon.socket, &["connect", "--kubeconfig", &kc])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("may not register the laptop as Kilo Peer kubewire-tester-"),
        "{err}"
    );
    assert!(
        err.contains("\nfix: Ask a cluster admin")
            && err.contains("kubewire enroll --print | kubectl apply -f -"),
        "{err}"
    );
    assert!(peers(&ts).is_empty());

    // The Peer for the admin.
    let peer = enroll(&env, &kc, &ts).await;
    assert_eq!(peer["kind"], "Peer", "{peer}");
    assert_eq!(peer["apiVersion"], "kilo.squat.ai/v1alpha1");
    let name = peer["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("kubewire-tester-"), "{name}");
    assert_eq!(
        peer["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubewire"
    );
    assert_eq!(peer["metadata"]["labels"]["kubewire.io/user"], "tester");
    assert!(
        peer["metadata"]["annotations"]["kubewire.io/enrolled"].is_string(),
        "{peer}"
    );
    assert_eq!(peer["spec"]["persistentKeepalive"], 25);
    let address = peer["spec"]["allowedIPs"][0].as_str().unwrap().to_owned();
    assert!(
        address.starts_with("10.4.") && address.ends_with("/32"),
        "{address}"
    );
    assert_eq!(peer["spec"]["publicKey"].as_str().unwrap().len(), 44);
    // The same Peer every time (the key is kept).
    assert_eq!(enroll(&env, &kc, &ts).await["spec"], peer["spec"]);

    // The admin applies it; connect uses it as it is.
    let applied = ts.store.create(peer.clone()).unwrap();
    let log = env.dir.path().join("connect.jsonl");
    let mut child = connect_json(&env, &daemon.socket, &kc, &log);
    let lines = wait_connected(&mut child, &log).await;
    assert!(lines.contains("provided by an admin; used as it is"), "{lines}");
    let connected: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event"] == "connected")
        .unwrap();
    assert_eq!(connected["peer"], name.as_str());
    assert_eq!(connected["address"], address.as_str());
    assert_eq!(
        peers(&ts),
        std::slice::from_ref(&applied),
        "the Peer is not written"
    );
    ctrl_c(child).await;
    assert_eq!(peers(&ts), [applied], "nor deleted at disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_stamps_its_last_connect_and_peers_shows_this_laptops_peer_with_its_handshake() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let log = env.dir.path().join("connect.jsonl");
    let before = unix_now();
    let mut child = connect_json(&env, &daemon.socket, &kc, &log);
    wait_connected(&mut child, &log).await;
    let registered = peers(&ts);
    assert_eq!(registered.len(), 1);
    let stamp: u64 = registered[0]["metadata"]["annotations"]["kubewire.io/last-connect"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stamp + 2 >= before && stamp <= unix_now() + 2, "{stamp}");

    let o = output(env.command_with(&daemon.socket, &["peers", "--json", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let listed = listed["peers"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["name"], registered[0]["metadata"]["name"]);
    assert_eq!(listed[0]["current"], true, "{out}");
    assert_eq!(listed[0]["user"], "tester");
    assert_eq!(listed[0]["last_connect"], stamp);
    // The stand-in daemon's segments had their handshake 5 s ago.
    assert_eq!(listed[0]["last_handshake_age_secs"], 5, "{out}");
    let o = output(env.command_with(&daemon.socket, &["peers", "--kubeconfig", &kc])).await;
    let (out, _) = text(&o);
    assert!(
        out.starts_with("NAME") && out.contains("this laptop") && out.contains("5 s ago"),
        "{out}"
    );
    ctrl_c(child).await;
}

fn kubewire_peer(name: &str, key: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "kilo.squat.ai/v1alpha1",
        "kind": "Peer",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "kubewire", "kubewire.io/user": name, "kubewire.io/host": "box"},
            "annotations": annotations,
        },
        "spec": {"allowedIPs": ["10.4.201.1/32"], "publicKey": key, "persistentKeepalive": 25},
    })
}

fn names(ts: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = peers(ts)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_only_kubewires_stale_peers_and_never_this_laptops() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let mine = enroll(&env, &kc, &ts).await;
    let my_key = mine["spec"]["publicKey"].as_str().unwrap();
    let now = unix_now();
    let old = json!({"kubewire.io/last-connect": (now - 40 * DAY).to_string()});
    let other_key = |n: u8| format!("{}A=", String::from(char::from(b'B' + n)).repeat(42));
    for peer in [
        kubewire_peer("old", &other_key(0), old.clone()),
        kubewire_peer(
            "recent",
            &other_key(1),
            json!({"kubewire.io/last-connect": (now - DAY).to_string()}),
        ),
        kubewire_peer(
            "enrolled",
            &other_key(2),
            json!({"kubewire.io/enrolled": (now - 90 * DAY).to_string()}),
        ),
        kubewire_peer("mine", my_key, old.clone()),
    ] {
        ts.store.create(peer).unwrap();
    }
    let mut not_ours = kubewire_peer("not-ours", &other_key(3), old);
    not_ours["metadata"]["labels"] = json!({"team": "infra"});
    ts.store.create(not_ours).unwrap();

    let o = output(env.command(&["peers", "--json", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let listed: Vec<(String, bool)> = listed["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("enrolled".to_owned(), false),
            ("mine".to_owned(), true),
            ("old".to_owned(), false),
            ("recent".to_owned(), false)
        ],
        "only kubewire's Peers, this laptop's marked"
    );

    let all = names(&ts);
    let o = output(env.command(&[
        "peers",
        "prune",
        "--older-than",
        "30d",
        "--dry-run",
        "--kubeconfig",
        &kc,
    ]))
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("would remove old (old@box, last connect 40 d ago)"),
        "{out}"
    );
    assert!(
        out.contains("kept mine") && out.contains("this laptop's current Peer"),
        "{out}"
    );
    assert_eq!(names(&ts), all, "a dry run removes nothing");

    let o = output(env.command(&["peers", "prune", "--older-than", "30d", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("removed old "), "{out}");
    assert!(
        out.contains("kept enrolled ") && out.contains("no last connect recorded"),
        "{out}"
    );
    assert!(
        out.contains("kept recent ") && out.contains("connected within the limit"),
        "{out}"
    );
    assert_eq!(names(&ts), ["enrolled", "mine", "not-ours", "recent"]);

    let o = output(env.command(&["peers", "prune", "--older-than", "30x", "--kubeconfig", &kc])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the unit must be s, m, h, d or w"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_psk_keeps_a_preshared_key_beside_the_key_puts_it_on_the_peer_and_hands_it_to_the_daemon() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let env = Env::new();
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let log = env.dir.path().join("connect.jsonl");
    let mut child = env
        .command_with(
            &daemon.socket,
            &["connect", "--json", "--psk", "--kubeconfig", &kc],
        )
        .env("KUBEWIRE_LOG", "debug")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(env.dir.path().join("connect.log")).unwrap())
        .spawn()
        .unwrap();
    let lines = wait_connected(&mut child, &log).await;
    let keys = env.dir.path().join("config/kubewire/keys");
    let psk_file = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "psk"))
        .expect("a .psk file beside the key");
    let psk = std::fs::read_to_string(&psk_file).unwrap().trim().to_owned();
    assert_eq!(psk.len(), 44);
    let registered = peers(&ts);
    assert_eq!(registered[0]["spec"]["presharedKey"], psk.as_str());
    assert_eq!(
        daemon.seen.lock().unwrap().preshared_keys,
        [Some(psk.clone())],
        "the daemon gets the key with the Plan"
    );
    let o = output(env.command_with(&daemon.socket, &["peers", "--json", "--kubeconfig", &kc])).await;
    let (out, _) = text(&o);
    ctrl_c(child).await;
    let log_text = std::fs::read_to_string(env.dir.path().join("connect.log")).unwrap();
    for (what, text) in [
        ("connect --json", &lines),
        ("the debug log", &log_text),
        ("peers --json", &out),
    ] {
        assert!(!text.contains(&psk), "{what} holds the preshared key");
    }

    // Without --psk the kept key is still used.
    let mut child = connect_json(&env, &daemon.socket, &kc, &log);
    wait_connected(&mut child, &log).await;
    assert_eq!(peers(&ts)[0]["spec"]["presharedKey"], psk.as_str());
    ctrl_c(child).await;
}
