//! The shell around `kubewire`: completion scripts that a shell actually completes with, and man
//! pages that `man` renders. A missing `bash`/`man`/`groff` skips with a message, and fails under
//! `KUBEWIRE_TESTS_STRICT=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn kubewire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubewire"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `true` when `tool` is on PATH; otherwise says so, and panics under KUBEWIRE_TESTS_STRICT=1.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("KUBEWIRE_TESTS_STRICT").is_none(),
            "{tool} is missing and KUBEWIRE_TESTS_STRICT is set"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// What bash's completion offers for `kubewire <words…>` (the last word is being completed).
fn bash_complete(words: &[&str]) -> String {
    let script = stdout(&kubewire(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubewire.bash");
    std::fs::write(&file, script).unwrap();
    let words_list = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=(kubewire {words_list}); COMP_CWORD={}; \
         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; _kubewire kubewire; echo \"${{COMPREPLY[@]}}\"",
        file.display(),
        words.len()
    );
    let o = Command::new("bash").args(["-c", &program]).output().unwrap();
    assert!(o.status.success(), "bash: {}", String::from_utf8_lossy(&o.stderr));
    stdout(&o)
}

#[test]
fn bash_completes_subcommands_and_flags() {
    if !have("bash") {
        return;
    }
    let reply = bash_complete(&["con"]);
    assert!(
        reply.split_whitespace().any(|w| w == "connect"),
        "completions for `kubewire con`: {reply:?}"
    );
    let reply = bash_complete(&["connect", "--det"]);
    assert!(
        reply.split_whitespace().any(|w| w == "--detach"),
        "completions for `kubewire connect --det`: {reply:?}"
    );
}

#[test]
fn zsh_fish_and_powershell_scripts_name_the_commands() {
    let zsh = stdout(&kubewire(&["completions", "zsh"]));
    assert!(
        zsh.starts_with("#compdef kubewire"),
        "zsh script: {}",
        zsh.lines().next().unwrap_or_default()
    );
    assert!(zsh.contains("doctor"));
    let fish = stdout(&kubewire(&["completions", "fish"]));
    assert!(
        fish.contains("complete -c kubewire") && fish.contains("connect"),
        "fish script"
    );
    let ps = stdout(&kubewire(&["completions", "powershell"]));
    assert!(
        ps.contains("Register-ArgumentCompleter") && ps.contains("disconnect"),
        "powershell script"
    );
}

#[test]
fn an_unknown_shell_is_bad_input() {
    let o = kubewire(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bash"),
        "the error lists the shells"
    );
}

/// `man -l` renders the page as text (no pager).
fn render_man(page: &Path) -> String {
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("warning"), "man warns: {stderr}");
    stdout(&o)
}

#[test]
fn man_page_on_stdout_renders() {
    if !have("man") || !have("groff") {
        return;
    }
    let o = kubewire(&["man"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("kubewire.1");
    std::fs::write(&page, &o.stdout).unwrap();
    let text = render_man(&page);
    assert!(text.contains("NAME") && text.contains("kubewire"), "{text}");
    assert!(
        text.contains("connect") && text.contains("doctor"),
        "the subcommands are listed: {text}"
    );
    assert!(
        text.contains("Exit status"),
        "the exit codes are in the page: {text}"
    );
}

#[test]
fn man_pages_one_per_subcommand_render() {
    if !have("man") || !have("groff") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = kubewire(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in [
        "kubewire",
        "kubewire-connect",
        "kubewire-doctor",
        "kubewire-status",
        "kubewire-completions",
    ] {
        let page = dir.path().join(format!("{name}.1"));
        assert!(page.is_file(), "{} missing", page.display());
        let text = render_man(&page);
        assert!(text.contains(name), "{name}: {text}");
    }
    let connect = render_man(&dir.path().join("kubewire-connect.1"));
    assert!(
        connect.contains("--detach"),
        "connect's page lists its flags: {connect}"
    );
}
