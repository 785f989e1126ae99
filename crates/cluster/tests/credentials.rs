//! Credentials as a developer's kubeconfig has them: a token the API server no longer accepts is
//! "sign in again" (401), not a missing permission (403, RBAC); an exec credential plugin (the real
//! kube client runs it while building the client) may take its time without freezing the rest of
//! the program, and a slow interactive one is waited for.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kubewire_apiserver::testing::TOKEN;
use kubewire_cluster::ClusterError;
use kubewire_cluster::discovery;
use kubewire_cluster::kubeconfig;

#[tokio::test]
async fn a_refused_token_asks_to_sign_in_again_and_is_not_called_rbac() {
    let ts = support::start().await;
    let path = ts.dir.path().join("expired-kubeconfig");
    std::fs::write(&path, ts.kubeconfig_with_token("an-expired-token", "sso")).unwrap();
    let loaded = kubeconfig::load(Some(&path)).unwrap();
    let cluster = loaded.client(None).await.unwrap();
    let err = discovery::probe_cluster(&cluster).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClusterError::SignInNeeded { .. }), "{text}");
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(text.contains("sign in again"), "{text}");
    assert!(
        text.contains("kubectl --context sso get --raw /version"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("rbac"), "{text}");
    // The fix is apart from the problem, for the tray and doctor.
    let problem = err.problem();
    assert!(problem.fix.unwrap().starts_with("Sign in again"));
}

/// A kubeconfig whose user gets its token from `plugin` (an exec credential plugin).
fn exec_kubeconfig(
    ts: &support::TestServer,
    plugin: &std::path::Path,
    interactive: &str,
) -> std::path::PathBuf {
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ts.tls.ca_pem);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: sso\nclusters:\n- name: lab\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: sso\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      interactiveMode: {interactive}\ncontexts:\n- name: sso\n  context: {{cluster: lab, user: sso}}\n",
        ts.url,
        plugin.display()
    );
    let path = ts.dir.path().join(format!("exec-{interactive}-kubeconfig"));
    std::fs::write(&path, kubeconfig).unwrap();
    path
}

/// A plugin that takes `secs` (a user signing in) and then gives the server's token.
fn slow_plugin(ts: &support::TestServer, secs: u32) -> std::path::PathBuf {
    let path = ts.dir.path().join("sign-in-plugin");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nsleep {secs}\nprintf '%s' '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{TOKEN}\"}}}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// On one thread, as the CLI runs: while the plugin waits for the user, the rest of the program
/// (progress output, Ctrl-C, the "waiting for you to sign in" line) goes on.
#[tokio::test(flavor = "current_thread")]
async fn an_interactive_plugin_is_waited_for_without_freezing_the_program() {
    let ts = support::start().await;
    let plugin = slow_plugin(&ts, 2);
    let path = exec_kubeconfig(&ts, &plugin, "IfAvailable");
    let loaded = kubeconfig::load(Some(&path)).unwrap();
    let found = loaded.exec_plugin(None).unwrap();
    assert!(found.interactive);
    assert_eq!(found.timeout(), kubeconfig::SIGN_IN_TIMEOUT);

    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = std::time::Instant::now();
    let cluster = loaded.client(None).await.unwrap();
    let took = started.elapsed();
    let ticked = ticks.load(Ordering::Relaxed);
    ticker.abort();
    assert!(took >= Duration::from_secs(2), "the plugin ran: {took:?}");
    assert!(
        ticked >= 10,
        "the runtime stood still while the plugin ran: {ticked} ticks of 100 ms in {took:?}"
    );
    // The token it gave works.
    discovery::probe_cluster(&cluster).await.unwrap();
}

#[test]
fn a_plugin_that_never_asks_the_user_gets_a_short_limit() {
    let yaml = "apiVersion: v1\nkind: Config\nusers:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      interactiveMode: Never\n- name: token\n  user:\n    token: abc\n";
    let config: kube::config::Kubeconfig = serde_yaml::from_str(yaml).unwrap();
    let eks = kubeconfig::exec_plugin(&config, "eks").unwrap();
    assert_eq!(eks.command, "aws");
    assert!(!eks.interactive);
    assert_eq!(eks.timeout(), kubeconfig::EXEC_TIMEOUT);
    assert_eq!(kubeconfig::exec_plugin(&config, "token"), None);
    assert_eq!(kubeconfig::exec_plugin(&config, "nobody"), None);
}
