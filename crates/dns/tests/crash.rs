//! The crash suite of the files the DNS backends change: a real child process (this test binary,
//! re-run as `crash_child`) applies, updates and reverts resolv.conf mode (and writes and removes
//! macOS resolver files), aborting at one fault point (`KUBEWIRE_FAULT`, see `kubewire_dns::fault`);
//! then a fresh process runs the start-up restore, itself crashed at each of its points and run
//! again. After every crash the original bytes must still be somewhere (the file or the backup),
//! and after the last restore the file must hold them byte for byte, with no backup or temporary
//! file left. Both ways of writing the file are covered: atomic rename, and in place (what a
//! bind-mounted `/etc/resolv.conf` gets). No root needed.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use kubewire_dns::os::{ResolvConfPaths, macos};
use kubewire_dns::{BackendKind, DnsState, OsDns, OsPaths, SplitDnsSettings};

/// The user's resolv.conf, with bytes that are not UTF-8.
const ORIGINAL: &[u8] =
    b"# the laptop's own resolv.conf\nnameserver 10.1.1.1\nsearch lan\noptions edns0\n# \xff\xfe\n";
/// Someone else's resolver file on macOS (a corporate VPN's).
const CORP: &[u8] = b"nameserver 10.0.0.1\n";

fn os_paths(dir: &Path) -> OsPaths {
    OsPaths {
        resolv_conf: ResolvConfPaths {
            target: dir.join("resolv.conf"),
            backup: dir.join("state/resolv.pre-kubewire-backup.conf"),
        },
        macos_resolver_dir: Some(dir.join("resolver")),
    }
}

fn settings(resolver: &str) -> SplitDnsSettings {
    SplitDnsSettings {
        interface: "kubewire0".into(),
        resolver: resolver.parse().unwrap(),
        zone: "cluster.local".into(),
        reverse_zones: vec!["42.10.in-addr.arpa".into(), "43.10.in-addr.arpa".into()],
        search: vec!["default.svc.cluster.local".into()],
    }
}

/// The child: one action on the files of `KW_CRASH_DIR`, as the daemon does it.
#[tokio::test]
#[ignore = "helper: run by the crash tests as a child process"]
async fn crash_child() {
    let Ok(dir) = std::env::var("KW_CRASH_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let paths = os_paths(&dir);
    let state = DnsState {
        backend: BackendKind::ResolvConf,
        paths: paths.clone(),
        ifindex: None,
        interface: None,
    };
    match std::env::var("KW_CRASH_ACTION").unwrap().as_str() {
        // Connect, a Plan that changes the resolver's address, disconnect.
        "session" => {
            let os = OsDns::new(BackendKind::ResolvConf, paths.clone());
            let first = settings("127.0.2.53:53");
            assert_eq!(os.prepare(&first).unwrap(), state);
            os.apply(&state, &first).await.unwrap();
            os.apply(&state, &settings("127.0.2.54:53")).await.unwrap();
            os.revert(&state).await.unwrap();
        }
        // A daemon's start.
        "restore" => kubewire_dns::restore_at_start(Some(&state), &paths)
            .await
            .unwrap(),
        "macos-session" => {
            let dir = paths.macos_resolver_dir.clone().unwrap();
            let s = settings("127.0.0.1:53530");
            let mut domains = vec![s.zone.clone()];
            domains.extend(s.reverse_zones.iter().cloned());
            let files = macos::resolver_files(s.resolver, &domains);
            macos::apply(&dir, &files).unwrap();
            let moved = macos::resolver_files("127.0.0.1:53531".parse::<SocketAddr>().unwrap(), &domains);
            macos::apply(&dir, &moved).unwrap();
            macos::remove_ours(&dir).unwrap();
        }
        "macos-restore" => {
            macos::remove_ours(&paths.macos_resolver_dir.unwrap()).unwrap();
        }
        other => panic!("unknown action {other}"),
    }
}

/// Runs the child; `fault`: the point to abort at; `trace`: where it lists the points it reached.
fn child(dir: &Path, action: &str, fault: Option<&str>, trace: Option<&Path>, in_place: bool) -> ExitStatus {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "crash_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("KW_CRASH_DIR", dir)
    .env("KW_CRASH_ACTION", action)
    .env_remove(kubewire_dns::fault::FAULT_ENV)
    .env_remove(kubewire_dns::fault::TRACE_ENV)
    .env_remove(kubewire_dns::durable::IN_PLACE_ENV)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    if let Some(f) = fault {
        cmd.env(kubewire_dns::fault::FAULT_ENV, f);
    }
    if let Some(t) = trace {
        cmd.env(kubewire_dns::fault::TRACE_ENV, t);
    }
    if in_place {
        cmd.env(kubewire_dns::durable::IN_PLACE_ENV, "1");
    }
    cmd.status().unwrap()
}

/// The points a clean run of `action` on `dir` reaches, in order (the run must succeed).
fn points(dir: &Path, action: &str, in_place: bool) -> Vec<String> {
    let trace = dir.with_extension("trace");
    let _ = std::fs::remove_file(&trace);
    let status = child(dir, action, None, Some(&trace), in_place);
    assert!(status.success(), "a clean {action} failed: {status}");
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_file(&trace);
    text.lines().map(str::to_owned).collect()
}

fn crashed(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal() == Some(6)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The files of a directory (names sorted, with their bytes).
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap_or_default(),
                )
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn fresh_resolv_conf(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(dir.join("resolv.conf"), ORIGINAL).unwrap();
    dir
}

/// After any crash: the original bytes are still on disk, in the file or in the backup.
fn assert_original_kept(dir: &Path, case: &str) {
    let paths = os_paths(dir).resolv_conf;
    let target = std::fs::read(&paths.target).unwrap_or_default();
    let backup = std::fs::read(&paths.backup).ok();
    assert!(
        target == ORIGINAL || backup.as_deref() == Some(ORIGINAL),
        "{case}: the original is lost: file {:?}, backup {:?}",
        String::from_utf8_lossy(&target),
        backup.map(|b| String::from_utf8_lossy(&b).into_owned())
    );
}

/// After a completed restore: the original byte for byte, nothing of ours left.
fn assert_restored(dir: &Path, case: &str) {
    let paths = os_paths(dir).resolv_conf;
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&paths.target).unwrap()),
        String::from_utf8_lossy(ORIGINAL),
        "{case}"
    );
    assert_eq!(std::fs::read(&paths.target).unwrap(), ORIGINAL, "{case}");
    assert!(!paths.backup.exists(), "{case}: backup left");
    assert_eq!(
        listing(dir).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["resolv.conf", "state"],
        "{case}: temporary files left"
    );
    assert_eq!(listing(&dir.join("state")), Vec::new(), "{case}: state dir");
}

#[test]
fn every_crash_in_resolv_conf_apply_update_revert_and_restore_ends_with_the_original_bytes() {
    let root = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for in_place in [false, true] {
        let mode = if in_place { "in place" } else { "atomic" };
        let clean = fresh_resolv_conf(root.path(), &format!("clean-{in_place}"));
        let session = points(&clean, "session", in_place);
        assert_restored(&clean, &format!("{mode}: a clean session"));
        assert!(session.len() >= 10, "{mode}: too few fault points: {session:?}");
        for (i, point) in session.iter().enumerate() {
            let case = format!("{mode}: crash at {point}");
            let dir = fresh_resolv_conf(root.path(), &format!("s-{in_place}-{i}"));
            assert!(
                crashed(child(&dir, "session", Some(point), None, in_place)),
                "{case}: no crash"
            );
            cases += 1;
            assert_original_kept(&dir, &case);
            // A restore, itself crashed at each of its points, then a clean one.
            let probe = root.path().join(format!("p-{in_place}-{i}"));
            copy_dir(&dir, &probe);
            let restore = points(&probe, "restore", in_place);
            assert_restored(&probe, &case);
            for (j, again) in restore.iter().enumerate() {
                let case = format!("{case}, then at {again} in the restore");
                let d = root.path().join(format!("r-{in_place}-{i}-{j}"));
                copy_dir(&dir, &d);
                assert!(
                    crashed(child(&d, "restore", Some(again), None, in_place)),
                    "{case}: no crash"
                );
                cases += 1;
                assert_original_kept(&d, &case);
                assert!(child(&d, "restore", None, None, in_place).success(), "{case}");
                assert_restored(&d, &case);
            }
        }
        eprintln!("{mode}: {} fault points in a session", session.len());
    }
    eprintln!("MEASURE resolv.conf crash cases: {cases}, all ended with the original bytes");
}

#[test]
fn every_crash_in_macos_resolver_files_ends_with_only_the_users_files() {
    let root = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("resolver")).unwrap();
        std::fs::write(dir.join("resolver/corp.example"), CORP).unwrap();
        dir
    };
    let original = vec![("corp.example".to_owned(), CORP.to_vec())];
    let clean = fresh("clean");
    let session = points(&clean, "macos-session", false);
    assert_eq!(listing(&clean.join("resolver")), original);
    assert!(session.len() >= 10, "{session:?}");
    let mut cases = 0;
    for (i, point) in session.iter().enumerate() {
        let case = format!("crash at {point}");
        let dir = fresh(&format!("s-{i}"));
        assert!(
            crashed(child(&dir, "macos-session", Some(point), None, false)),
            "{case}"
        );
        cases += 1;
        let probe = root.path().join(format!("p-{i}"));
        copy_dir(&dir, &probe);
        let restore = points(&probe, "macos-restore", false);
        assert_eq!(listing(&probe.join("resolver")), original, "{case}");
        for (j, again) in restore.iter().enumerate() {
            let case = format!("{case}, then at {again}");
            let d = root.path().join(format!("r-{i}-{j}"));
            copy_dir(&dir, &d);
            assert!(
                crashed(child(&d, "macos-restore", Some(again), None, false)),
                "{case}"
            );
            cases += 1;
            assert!(child(&d, "macos-restore", None, None, false).success(), "{case}");
            assert_eq!(listing(&d.join("resolver")), original, "{case}");
        }
    }
    eprintln!("MEASURE macOS resolver-file crash cases: {cases}, all ended with only the user's files");
}
