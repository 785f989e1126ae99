//! The daemon's socket under a hostile local user, against the real `kubewired` (in a network
//! namespace of its own, as the other daemon tests): a group member's connection flood under a
//! 1,024-descriptor limit, a client that sends half a frame, and peer identity taken from the socket
//! (a member by supplementary group only whose connecting process is gone before the daemon
//! accepts). Root only; they fail loudly without root.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsFd as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, is_root, ok, sh};
use kubewire_ipc::{ErrorCode, Request, Response};
use tokio::io::AsyncReadExt as _;

fn require_root() {
    assert!(
        is_root(),
        "these tests need root (network namespaces, other users); run them as root"
    );
}

/// The flooding client: `KWD_FLOOD_COUNT` connections, held idle for `KWD_FLOOD_HOLD_SECS`.
#[tokio::test]
#[ignore = "helper: run by other tests as another user"]
async fn helper_flood() {
    let Ok(socket) = std::env::var("KWD_HELPER_SOCKET") else {
        return;
    };
    let count: usize = std::env::var("KWD_FLOOD_COUNT").unwrap().parse().unwrap();
    let hold: u64 = std::env::var("KWD_FLOOD_HOLD_SECS").unwrap().parse().unwrap();
    let mut held = Vec::new();
    let mut failed = 0;
    for _ in 0..count {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::UnixStream::connect(&socket),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => failed += 1,
        }
    }
    println!("FLOOD_OPEN connected={} failed={failed}", held.len());
    tokio::time::sleep(Duration::from_secs(hold)).await;
    // How many the daemon closed meanwhile (a refusal, an idle timeout).
    let mut closed = 0;
    for s in &mut held {
        let mut buf = [0u8; 1024];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            closed += 1;
        }
    }
    println!("FLOOD_DONE closed_by_daemon={closed}");
}

/// Starts the flood as uid/gid 65534 (nobody/nogroup, a member through `--group nogroup`), with a
/// descriptor limit of its own high enough for the flood.
fn start_flood(lab: &Lab, count: usize, hold_secs: u64) -> std::process::Child {
    Command::new("prlimit")
        .args([
            "--nofile=8192:8192",
            "--",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "helper_flood", "--ignored", "--nocapture"])
        .env("KWD_HELPER_SOCKET", lab.socket())
        .env("KWD_FLOOD_COUNT", count.to_string())
        .env("KWD_FLOOD_HOLD_SECS", hold_secs.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn open_descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn timed_status(lab: &Lab) -> Result<Duration, String> {
    let t = Instant::now();
    let status = async {
        let mut client = kubewire_ipc::Client::connect(&lab.socket()).await?;
        client.request(&Request::Status).await
    };
    match tokio::time::timeout(Duration::from_secs(2), status).await {
        Ok(Ok(Response::Status { .. })) => Ok(t.elapsed()),
        Ok(other) => Err(format!("{other:?}")),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_connection_flood_leaves_root_served_and_the_daemon_bounded() {
    require_root();
    let mut lab = Lab::new(0).with_args(&["--group", "nogroup"]);
    lab.start_daemon();
    let pid = lab.daemon_pid();
    // systemd's default soft limit, as the hard limit too: the worst case.
    ok(&["prlimit", "--pid", &pid.to_string(), "--nofile=1024:1024"]);
    let rss_before = rss_kib(pid);
    let flood = start_flood(&lab, 1100, 8);
    // The flood connects for a moment; then root asks for the status, several times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut answers = Vec::new();
    let mut peak_fds = 0;
    for _ in 0..6 {
        peak_fds = peak_fds.max(open_descriptors(pid));
        answers.push(timed_status(&lab).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_during = rss_kib(pid);
    let out = flood.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = lab.log();
    println!(
        "MEASURE flood: {} | {} | root status: {answers:?} | daemon fds peak {peak_fds} | rss {rss_before} -> {rss_during} KiB | log {} bytes, {} accept-failed lines",
        stdout
            .lines()
            .find(|l| l.starts_with("FLOOD_OPEN"))
            .unwrap_or("no FLOOD_OPEN"),
        stdout
            .lines()
            .find(|l| l.starts_with("FLOOD_DONE"))
            .unwrap_or("no FLOOD_DONE"),
        log.len(),
        log.matches("accept failed").count(),
    );
    assert!(
        stdout.contains("FLOOD_OPEN"),
        "the flood did not run: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for answer in &answers {
        assert!(answer.is_ok(), "root's status during the flood: {answers:?}");
    }
    assert!(peak_fds < 400, "the daemon held {peak_fds} descriptors");
    assert!(
        rss_during < 64 * 1024,
        "the daemon's RSS grew to {rss_during} KiB"
    );
    assert!(log.len() < 64 * 1024, "the log grew to {} bytes", log.len());
    // Still serving after the flood.
    timed_status(&lab).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_frame_is_dropped_after_the_frame_timeout() {
    require_root();
    let mut lab = Lab::new(0);
    lab.start_daemon();
    let mut stream = tokio::net::UnixStream::connect(lab.socket()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"{\"v\":1,\"requ")
        .await
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    let waited = t.elapsed();
    println!("MEASURE half a frame: closed after {} ms", waited.as_millis());
    assert!(
        read.is_ok(),
        "the daemon still holds a half-sent frame after 20 s"
    );
    assert!(waited >= Duration::from_secs(9), "closed too early: {waited:?}");
    // Root is still served.
    timed_status(&lab).await.unwrap();
}

/// A throwaway user whose primary group is nogroup and who is in a throwaway group only as a
/// supplementary group; both removed on drop.
struct TempUser {
    user: String,
    group: String,
}

impl TempUser {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let (user, group) = (format!("kwtu{id}"), format!("kwtg{id}"));
        let _ = sh(&["userdel", &user]);
        let _ = sh(&["groupdel", &group]);
        ok(&["groupadd", &group]);
        let this = Self { user, group };
        ok(&[
            "useradd",
            "-M",
            "-N",
            "-g",
            "nogroup",
            "-G",
            &this.group,
            "-s",
            "/usr/sbin/nologin",
            &this.user,
        ]);
        this
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = sh(&["userdel", &self.user]);
        let _ = sh(&["groupdel", &self.group]);
    }
}

/// Part one of the hand-off: connects, passes the connection to a child of its own (as its stdin)
/// and exits at once, so the process that connected is gone before the daemon accepts.
#[tokio::test]
#[ignore = "helper: run by other tests as another user"]
async fn helper_connect_and_hand_off() {
    let Ok(socket) = std::env::var("KWD_HELPER_SOCKET") else {
        return;
    };
    let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let fd = stream.as_fd().try_clone_to_owned().unwrap();
    // Not waited for on purpose: this process must be gone while the child holds the connection.
    #[allow(clippy::zombie_processes)]
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_ask_on_stdin", "--ignored", "--nocapture"])
        .stdin(Stdio::from(fd))
        .spawn()
        .unwrap();
}

/// Part two: the status request on the connection it got as stdin; prints the answer.
#[tokio::test]
#[ignore = "helper: run by other tests as another user"]
async fn helper_ask_on_stdin() {
    if std::env::var("KWD_HELPER_SOCKET").is_err() {
        return;
    }
    let fd = std::io::stdin().as_fd().try_clone_to_owned().unwrap();
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true).unwrap();
    let (r, mut w) = tokio::net::UnixStream::from_std(stream).unwrap().into_split();
    kubewire_ipc::framing::write(&mut w, &Request::Status)
        .await
        .unwrap();
    let mut r = tokio::io::BufReader::new(r);
    let answer: Option<Response> = kubewire_ipc::framing::read(&mut r).await.unwrap();
    println!("HELPER_RESULT {}", serde_json::to_string(&answer).unwrap());
}

fn helper_result(stdout: &[u8], stderr: &[u8]) -> Response {
    let stdout = String::from_utf8_lossy(stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HELPER_RESULT "))
        .unwrap_or_else(|| panic!("helper failed: {stdout}\n{}", String::from_utf8_lossy(stderr)));
    let answer: Option<Response> = serde_json::from_str(line).unwrap();
    answer.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_by_supplementary_group_only_is_served_even_when_its_process_is_gone() {
    require_root();
    let temp = TempUser::new();
    // Mode 666: the daemon's own check decides, not the socket file's mode.
    let mut lab = Lab::new(0).with_args(&["--group", &temp.group, "--socket-mode", "666"]);
    lab.start_daemon();
    let pid = nix::unistd::Pid::from_raw(lab.daemon_pid());
    // The daemon accepts only after the connecting process exited (its pid may then be reused).
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let mut first = Command::new("setpriv")
        .args([
            &format!("--reuid={}", temp.user),
            "--regid=nogroup",
            "--init-groups",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_connect_and_hand_off",
            "--ignored",
            "--nocapture",
        ])
        .env("KWD_HELPER_SOCKET", lab.socket())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = first.wait().unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(status.success(), "the connecting helper failed");
    let out = first.wait_with_output().unwrap();
    match helper_result(&out.stdout, &out.stderr) {
        Response::Status { .. } => {}
        other => panic!(
            "a member by supplementary group was not served: {other:?}\n{}",
            lab.log()
        ),
    }

    // Someone outside the group (nobody, no supplementary groups) is refused with the fix.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_connect_and_hand_off",
            "--ignored",
            "--nocapture",
        ])
        .env("KWD_HELPER_SOCKET", lab.socket())
        .output()
        .unwrap();
    match helper_result(&out.stdout, &out.stderr) {
        Response::Error {
            code: ErrorCode::NotAuthorized,
            message,
        } => assert!(
            message.contains(&format!("sudo usermod -aG {} nobody", temp.group)),
            "{message}"
        ),
        other => panic!("a non-member was not refused: {other:?}"),
    }
}
