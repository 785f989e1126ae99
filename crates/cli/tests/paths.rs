//! Where kubewire keeps a user's files on Linux: exactly the XDG paths of earlier versions (nothing
//! moves for existing users), with a temp HOME and no XDG variables or KUBEWIRE_STATE_DIR set.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]

mod support;

use std::process::{Command, Stdio};

use kubewire_apiserver::testing::TestServer;
use support::fake_daemon::FakeDaemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_state_stay_in_the_xdg_directories() {
    let ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let home = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(home.path());
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kubewire"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("USER", "tester")
            .env("KUBEWIRE_KEYRING", "off")
            .env("KUBEWIRE_SOCKET", &daemon.socket)
            .stdin(Stdio::null());
        c
    };
    let mut c = run(&["connect", "--detach", "--kubeconfig", &kc]);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = home.path().join(".local/state/kubewire");
    assert!(
        state.join("controller.log").is_file(),
        "no controller.log in {}",
        state.display()
    );
    assert!(state.join("controller.pid").is_file());
    let keys: Vec<_> = std::fs::read_dir(home.path().join(".config/kubewire/keys"))
        .unwrap()
        .collect();
    assert_eq!(keys.len(), 1, "the key file is in ~/.config/kubewire/keys");
    let mut c = run(&["disconnect"]);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!state.join("controller.pid").exists());
}
