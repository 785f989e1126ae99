//! A user of the `kubewire` binary: a temporary HOME (XDG config and state inside it), the keyring
//! off (keys in 0600 files), no kubeconfig or log level from the outside, and a daemon socket.

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `kubewire args` as this user, with no daemon to talk to.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(&self.dir.path().join("no-daemon.sock"), args)
    }

    /// `kubewire args` as this user, talking to the daemon at `socket`.
    pub fn command_with(&self, socket: &Path, args: &[&str]) -> Command {
        command(self.dir.path(), socket, args)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The laptop's private keys as kubewire stored them (the 0600 files; the keyring is off).
    pub fn private_keys(&self) -> Vec<String> {
        let dir = self.dir.path().join("config/kubewire/keys");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        entries
            .map(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .filter(|k| !k.is_empty())
            .collect()
    }
}

/// `kubewire args` for a user whose HOME is `home`, talking to the daemon at `socket`.
pub fn command(home: &Path, socket: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubewire"));
    c.args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBEWIRE_LOG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KUBEWIRE_STATE_DIR", home.join("state"))
        .env("KUBEWIRE_KEYRING", "off")
        .env("KUBEWIRE_SOCKET", socket)
        .env("USER", "tester")
        .stdin(Stdio::null());
    c
}

/// Runs a command off the async runtime (the test's API server runs on it).
pub async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// Its stdout and stderr.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
