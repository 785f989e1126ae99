//! `kubewire doctor` against an API server whose clock is 10 minutes ahead: the clock check warns,
//! saying why it matters (tokens, certificates) and how to fix it. A test binary of its own: the API
//! test server's clock skew is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use kubewire_apiserver::testing::{TestServer, set_date_skew_secs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_a_warning_that_says_why_and_how_to_fix_it() {
    set_date_skew_secs(600);
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let dir = tempfile::tempdir().unwrap();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubewire"));
    c.args(["doctor", "--json", "--kubeconfig", &kc])
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .env("KUBEWIRE_STATE_DIR", dir.path().join("state"))
        .env("KUBEWIRE_SOCKET", dir.path().join("none.sock"))
        .stdin(Stdio::null());
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let clock = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "clock")
        .unwrap_or_else(|| panic!("no clock check: {v:#}"))
        .clone();
    assert_eq!(clock["status"], "warn", "{clock}");
    let detail = clock["detail"].as_str().unwrap();
    assert!(detail.contains("behind the API server's"), "{clock}");
    assert!(
        detail.contains("tokens") && detail.contains("certificates"),
        "{clock}"
    );
    assert!(
        clock["fix"]
            .as_str()
            .unwrap()
            .contains("timedatectl set-ntp true"),
        "{clock}"
    );
}
