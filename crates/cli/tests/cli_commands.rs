//! The `kubewire` binary as a user runs it: contexts, error messages and exit codes, graph and
//! doctor against the lab's API server, and connect / status / showconf / disconnect against a
//! stand-in daemon socket (the real daemon is tested by its own crate and the lab end-to-end tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use kubewire_apiserver::testing::TestServer;
use support::fake_daemon::FakeDaemon;
use support::user::{Env, output, text};

/// The API test server with one ready node (`aws`), and a user environment.
async fn one_node_cluster() -> (TestServer, Env) {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    (ts, Env::new())
}

const A: &str = "apiVersion: v1\nkind: Config\ncurrent-context: alpha\nclusters:\n- name: alpha\n  cluster: {server: \"https://alpha.example:6443\"}\nusers:\n- name: alice\n  user: {token: a}\ncontexts:\n- name: alpha\n  context: {cluster: alpha, user: alice, namespace: dev}\n";
const B: &str = "apiVersion: v1\nkind: Config\ncurrent-context: beta\nclusters:\n- name: beta\n  cluster: {server: \"https://beta.example:6443\"}\nusers:\n- name: bob\n  user: {token: b}\ncontexts:\n- name: beta\n  context: {cluster: beta, user: bob}\n";

#[test]
fn contexts_from_two_kubeconfig_files() {
    let env = Env::new();
    let a = env.dir.path().join("a.yaml");
    let b = env.dir.path().join("b.yaml");
    std::fs::write(&a, A).unwrap();
    std::fs::write(&b, B).unwrap();
    let joined = std::env::join_paths([&a, &b]).unwrap();
    let o = env
        .command(&["contexts"])
        .env("KUBECONFIG", &joined)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("CURRENT"), "{out}");
    assert!(
        lines[1].starts_with('*')
            && lines[1].contains("alpha")
            && lines[1].contains("https://alpha.example:6443")
            && lines[1].contains("dev"),
        "{out}"
    );
    assert!(!lines[2].starts_with('*') && lines[2].contains("beta"), "{out}");

    let o = env
        .command(&["contexts", "--json"])
        .env("KUBECONFIG", &joined)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[1]["name"], "beta");
    assert_eq!(v[0]["current"], true);
}

#[test]
fn a_malformed_kubeconfig_is_bad_input_naming_the_file() {
    let env = Env::new();
    let bad = env.dir.path().join("broken-config.yaml");
    std::fs::write(&bad, "contexts: [oops: : :").unwrap();
    let o = env.run(&["contexts", "--kubeconfig", bad.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("broken-config.yaml"), "{err}");
}

#[test]
fn no_daemon_is_exit_3_with_the_fix() {
    let env = Env::new();
    for args in [
        &["status"][..],
        &["showconf"],
        &["disconnect"],
        &["status", "--json"],
    ] {
        let o = env.run(args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("the kubewire daemon is not running"), "{err}");
        assert!(err.contains("sudo systemctl start kubewired"), "{err}");
    }
    // connect checks the daemon before touching the cluster.
    let o = env.run(&["connect", "--kubeconfig", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
}

#[test]
fn help_documents_the_exit_codes() {
    let o = Env::new().run(&["--help"]);
    let (out, _) = text(&o);
    for needle in [
        "3  the kubewire daemon is not running",
        "5  the cluster is unreachable",
        "2  bad input",
    ] {
        assert!(out.contains(needle), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_prints_dot_and_says_when_kilo_is_missing_or_the_api_is_down() {
    let mut ts = TestServer::start().await;
    ts.add_node("aws", 1);
    ts.add_node("gcp", 2);
    let env = Env::new();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(env.command(&["graph", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("digraph"), "{out}");
    assert!(out.contains("aws") && out.contains("gcp"), "{out}");
    // Nothing registered, no key stored.
    assert!(ts.store.list("kilo.squat.ai/v1alpha1", "Peer", None).is_empty());
    assert!(!env.dir.path().join("config/kubewire/keys").exists());

    ts.store
        .delete(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "peers.kilo.squat.ai",
        )
        .unwrap();
    let o = output(env.command(&["graph", "--kubeconfig", &kc])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("kilo-k3s-flannel.yaml"), "{err}");

    ts.stop().await;
    let o = output(env.command(&["graph", "--kubeconfig", &kc])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("cannot reach the API server at https://127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_each_check_with_its_fix() {
    let (ts, env) = one_node_cluster().await;
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = output(env.command(&["doctor", "--kubeconfig", &kc])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("✗ daemon reachable and authorised"), "{out}");
    assert!(
        out.contains("fix: Start it: `sudo systemctl start kubewired`"),
        "{out}"
    );
    assert!(out.contains("✓ API server reachable"), "{out}");
    assert!(out.contains("✓ Kilo present"), "{out}");
    assert!(out.contains("✓ nodes ready: 1 of 1 nodes ready"), "{out}");
    assert!(out.contains("1 check(s) failed"), "{out}");

    // With a daemon (stand-in) everything passes.
    let daemon = FakeDaemon::start(env.dir.path());
    let o = output({
        let mut c = env.command(&["doctor", "--kubeconfig", &kc]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        c
    })
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("all checks passed"), "{out}");
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the controller did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn peer_count(ts: &TestServer) -> usize {
    ts.store.list("kilo.squat.ai/v1alpha1", "Peer", None).len()
}

#[cfg(unix)]
fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        sig,
    )
    .unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_in_the_foreground_follows_the_cluster_and_ctrl_c_disconnects() {
    let (mut ts, env) = one_node_cluster().await;
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let log = env.dir.path().join("connect.log");
    let mut child = env
        .command(&["connect", "--kubeconfig", &kc])
        .env("KUBEWIRE_SOCKET", &daemon.socket)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("the first plan", || !daemon.seen.lock().unwrap().plans.is_empty()).await;
    assert_eq!(peer_count(&ts), 1);
    {
        let seen = daemon.seen.lock().unwrap();
        assert_eq!(seen.key_lengths, [44], "a base64 private key went to the daemon");
        let session = seen.session.as_ref().unwrap();
        assert!(session.peer_name.starts_with("kubewire-tester-"), "{session:?}");
        assert_eq!(session.cluster, ts.url);
    }
    // A node added reaches the daemon.
    ts.add_node("gcp", 2);
    wait_until("a plan with gcp", || {
        daemon
            .seen
            .lock()
            .unwrap()
            .plans
            .last()
            .is_some_and(|p| p.peers.len() == 2)
    })
    .await;
    // status and showconf through the daemon.
    let status_out = {
        let mut c = env.command(&["status"]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    let (out, err) = text(&status_out);
    assert!(status_out.status.success(), "{err}");
    assert!(out.contains("state:       connected"), "{out}");
    assert!(out.contains("controller:  attached (pid"), "{out}");
    assert!(out.contains("5 s ago"), "{out}");
    let conf = {
        let mut c = env.command(&["showconf"]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    assert!(text(&conf).0.contains("(redacted)"));

    // The API server goes away: status says so (from the controller), the tunnel keeps its plan.
    let plans_before = daemon.seen.lock().unwrap().plans.len();
    ts.stop().await;
    let state = env.dir.path().join("state/controller.json");
    wait_until("the controller to notice", || {
        std::fs::read_to_string(&state).is_ok_and(|t| t.contains("\"reachable\":false"))
    })
    .await;
    let status_out = {
        let mut c = env.command(&["status"]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    let (out, _) = text(&status_out);
    assert!(out.contains("warning: cluster API unreachable since"), "{out}");
    assert_eq!(daemon.seen.lock().unwrap().plans.len(), plans_before);
    ts.restart().await;
    wait_until("the controller to see the API again", || {
        std::fs::read_to_string(&state).is_ok_and(|t| t.contains("\"reachable\":true"))
    })
    .await;

    signal(&child, nix::sys::signal::Signal::SIGINT);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child))
        .await
        .unwrap();
    let progress = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{progress}");
    for step in [
        "✓ kubeconfig",
        "✓ API server reachable",
        "✓ Kilo present",
        "✓ key pair",
        "✓ Peer registered",
        "✓ plan computed",
        "✓ plan applied",
        "✓ first handshake",
        "connected in",
        "disconnected",
    ] {
        assert!(progress.contains(step), "{step} missing in:\n{progress}");
    }
    assert_eq!(daemon.seen.lock().unwrap().disconnects, 1);
    assert_eq!(peer_count(&ts), 0, "the Peer is deleted on disconnect");
    assert!(!env.dir.path().join("state/controller.pid").exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_detach_runs_in_the_background_until_disconnect() {
    let (ts, env) = one_node_cluster().await;
    let daemon = FakeDaemon::start(env.dir.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let o = {
        let mut c = env.command(&["connect", "--detach", "--keep-peer", "--kubeconfig", &kc]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("✓ plan applied"), "{err}");
    assert!(err.contains("in the background (pid"), "{err}");
    let pid_file = env.dir.path().join("state/controller.pid");
    assert!(pid_file.exists());
    assert_eq!(peer_count(&ts), 1);
    // Still following after this command returned.
    ts.add_node("gcp", 2);
    wait_until("a plan with gcp", || {
        daemon
            .seen
            .lock()
            .unwrap()
            .plans
            .last()
            .is_some_and(|p| p.peers.len() == 2)
    })
    .await;
    // A second connect is refused while one runs.
    let again = {
        let mut c = env.command(&["connect", "--kubeconfig", &kc]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).1.contains("already runs"), "{}", text(&again).1);

    let o = {
        let mut c = env.command(&["disconnect"]);
        c.env("KUBEWIRE_SOCKET", &daemon.socket);
        output(c).await
    };
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(daemon.seen.lock().unwrap().disconnects, 1);
    // --keep-peer was given to connect: the Peer stays.
    assert_eq!(peer_count(&ts), 1);
    assert!(!pid_file.exists());
    let log = std::fs::read_to_string(env.dir.path().join("state/controller.log")).unwrap();
    assert!(log.contains("disconnected (the Peer stays registered)"), "{log}");
    let _ = Path::new("");
}
