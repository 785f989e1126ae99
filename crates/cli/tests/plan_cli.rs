//! `kubewire plan` as a user runs it: the real binary on the reference fixture and on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/tests/common/conf.rs"]
mod conf;

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures")
}

fn kubewire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubewire"))
        .args(args)
        .output()
        .expect("run kubewire")
}

const KEY: &str = "AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=";

#[test]
fn seed_fixture_through_the_binary() {
    let expected_path = fixtures().join("seed-cluster.expected.conf");
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    // Run exactly the command the expected file's first lines give, from the fixtures folder.
    let command: String = expected
        .lines()
        .take(2)
        .map(|l| l.trim_start_matches('#').trim().trim_end_matches('\\'))
        .collect();
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(&args[..2], ["kubewire", "plan"]);
    let out = Command::new(env!("CARGO_BIN_EXE_kubewire"))
        .args(&args[1..])
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(conf::parse(&stdout), conf::parse(&expected), "stdout:\n{stdout}");
}

#[test]
fn json_output_reads_back_and_carries_warnings() {
    let snapshot = fixtures().join("seed-cluster.yaml");
    let out = kubewire(&[
        "plan",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--public-key",
        KEY,
        "--now",
        "1800000010",
        "--local-route",
        "192.168.20.0/24",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let plan = kubewire_core::render::json::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(plan.refused.len(), 2, "{:?}", plan.refused);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: refused 192.168.20.0/24 for \"location:azure\" (asked by node/azure)"),
        "{stderr}"
    );
}

#[test]
fn bad_snapshot_gives_one_line_per_problem_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    annotations:\n      a: b\n\
         - apiVersion: v1\n  kind: Node\n  metadata:\n    name: n2\n    annotations:\n      kilo.squat.ai/last-seen: 12\n\
         - apiVersion: kilo.squat.ai/v1alpha1\n  kind: Peer\n  metadata:\n    name: p\n  spec:\n    allowedIPs: 10.0.0.0/8\n",
    )
    .unwrap();
    let out = kubewire(&["plan", "--snapshot", path.to_str().unwrap(), "--public-key", KEY]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].ends_with("item 0 (Node): metadata.name: missing"),
        "{stderr}"
    );
    assert!(
        lines[1].ends_with(
            "item 1 (Node \"n2\"): metadata.annotations[\"kilo.squat.ai/last-seen\"]: expected a string, got a number (quote the value)"
        ),
        "{stderr}"
    );
    assert!(
        lines[2].ends_with("item 2 (Peer \"p\"): spec.allowedIPs: expected a list, got a string"),
        "{stderr}"
    );
}

#[test]
fn missing_file_and_bad_key_exit_2() {
    let out = kubewire(&["plan", "--snapshot", "/nonexistent.yaml", "--public-key", KEY]);
    assert_eq!(out.status.code(), Some(2));
    let snapshot = fixtures().join("seed-cluster.yaml");
    let out = kubewire(&[
        "plan",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--public-key",
        "AAAA",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stale_cluster_exits_1_with_reasons() {
    let snapshot = fixtures().join("seed-cluster.yaml");
    let out = kubewire(&[
        "plan",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--public-key",
        KEY,
        "--now",
        "1900000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("note: skipped node/aws: not ready: last seen 2027-01-15T08:00:00Z"),
        "{stderr}"
    );
}

#[test]
fn private_key_only_in_wg_quick_and_help_teaches() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("laptop.key");
    let private = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    std::fs::write(&key_file, format!("{private}\n")).unwrap();
    let snapshot = fixtures().join("seed-cluster.yaml");
    let base = [
        "plan",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--public-key",
        KEY,
        "--now",
        "1800000010",
    ];
    let mut args = base.to_vec();
    args.extend(["--private-key-file", key_file.to_str().unwrap()]);
    let out = kubewire(&args);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(&format!("PrivateKey = {private}"))
    );
    args.extend(["--format", "json"]);
    let out = kubewire(&args);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(private));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(private));

    let help = String::from_utf8(kubewire(&["plan", "--help"]).stdout).unwrap();
    assert!(
        help.contains("kubectl get nodes,peers.kilo.squat.ai,services -A -o yaml"),
        "{help}"
    );
    assert!(help.contains("Examples:"));
}
