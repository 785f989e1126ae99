//! The real kubewired crashed at every fault point of a session (`KUBEWIRE_FAULT`, see
//! `kubewire_dns::fault`): connect with split DNS in resolv.conf mode, a Plan that changes the DNS
//! settings, disconnect. Each time it aborts at one point; a new kubewired then starts, and the
//! laptop's resolv.conf must hold its original bytes (a bind-mounted file, as `ip netns exec` gives
//! it: written in place), with no backup, interface, route or state file left. Root only (network
//! namespaces); under `KUBEWIRE_TESTS_STRICT=1` it fails instead of skipping.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

use common::{Lab, can_run};
use kubewire_ipc::Request;

const ORIGINAL: &[u8] = b"# the laptop's own\nnameserver 198.18.1.2\nsearch lan\n# \xff odd bytes\n";

/// Connect, change the DNS settings, disconnect; errors are expected once the daemon crashed.
async fn session(lab: &Lab) {
    let Ok(mut client) = kubewire_ipc::Client::connect(&lab.socket()).await else {
        return;
    };
    let mut plan = lab.plan(&[(0, None)]);
    plan.dns.server = Some("10.42.1.53".parse().unwrap());
    plan.dns.search = vec!["default.svc.cluster.local".into()];
    if client.request(&lab.apply_request(plan.clone())).await.is_err() {
        return;
    }
    plan.dns.zone = "cluster.example".into();
    plan.dns.search = vec!["default.svc.cluster.example".into()];
    if client.request(&lab.apply_request(plan)).await.is_err() {
        return;
    }
    let _ = client.request(&Request::Disconnect { name: None }).await;
}

fn backup(lab: &Lab) -> std::path::PathBuf {
    lab.state_dir().join("resolv.pre-kubewire-backup.conf")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_every_fault_point_then_a_start_leaves_the_laptop_as_before() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(1).with_args(&["--dns-backend", "resolv-conf"]);
    std::fs::create_dir_all(lab.resolv_conf().parent().unwrap()).unwrap();
    std::fs::write(lab.resolv_conf(), ORIGINAL).unwrap();

    // A clean run lists the points, in order.
    let trace = lab.dir.path().join("trace");
    lab.daemon_env = vec![(kubewire_dns::fault::TRACE_ENV.into(), trace.display().to_string())];
    lab.start_daemon();
    session(&lab).await;
    let status = lab.signal_daemon(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "{}", lab.log());
    assert_eq!(std::fs::read(lab.resolv_conf()).unwrap(), ORIGINAL);
    let points: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        points.iter().any(|p| p.contains("in-place")),
        "the bind-mounted resolv.conf is written in place: {points:?}"
    );
    assert!(points.len() >= 20, "{points:?}");

    for point in &points {
        lab.daemon_env = vec![(kubewire_dns::fault::FAULT_ENV.into(), point.clone())];
        lab.start_daemon();
        session(&lab).await;
        let status = match lab.wait_daemon_exit(Duration::from_secs(5)) {
            Some(s) => s,
            // A point of the shutdown: reached on SIGTERM.
            None => lab.signal_daemon(nix::sys::signal::Signal::SIGTERM),
        };
        assert_eq!(status.signal(), Some(6), "no crash at {point}:\n{}", lab.log());
        let file = std::fs::read(lab.resolv_conf()).unwrap();
        assert!(
            file == ORIGINAL || std::fs::read(backup(&lab)).ok().as_deref() == Some(ORIGINAL),
            "crash at {point}: the original is lost: {:?}",
            String::from_utf8_lossy(&file)
        );

        lab.daemon_env.clear();
        lab.start_daemon();
        let case = format!("after a crash at {point}:\n{}", lab.log());
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(lab.resolv_conf()).unwrap()),
            String::from_utf8_lossy(ORIGINAL),
            "{case}"
        );
        assert_eq!(std::fs::read(lab.resolv_conf()).unwrap(), ORIGINAL, "{case}");
        assert!(!backup(&lab).exists(), "backup left {case}");
        assert!(!lab.link_exists(&lab.wg), "interface left {case}");
        assert!(lab.routes().is_empty(), "routes left {case}");
        assert!(!lab.state_file().exists(), "state file left {case}");
        let status = lab.signal_daemon(nix::sys::signal::Signal::SIGTERM);
        assert!(status.success(), "{case}");
    }
    eprintln!(
        "MEASURE kubewired crash cases: {}, each followed by a start: resolv.conf byte for byte, no interface, route, backup or state left",
        points.len()
    );
}

/// The case: connected with resolv.conf mode, kubewired killed (-9) and the file left empty
/// (a crash between truncate and write), then a start: the original must come back from the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_an_empty_resolv_conf_then_a_start_restores_the_original() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(1).with_args(&["--dns-backend", "resolv-conf"]);
    std::fs::create_dir_all(lab.resolv_conf().parent().unwrap()).unwrap();
    std::fs::write(lab.resolv_conf(), ORIGINAL).unwrap();
    lab.start_daemon();
    let mut client = kubewire_ipc::Client::connect(&lab.socket()).await.unwrap();
    let mut plan = lab.plan(&[(0, None)]);
    plan.dns.server = Some("10.42.1.53".parse().unwrap());
    client.request(&lab.apply_request(plan)).await.unwrap();
    assert_ne!(
        std::fs::read(lab.resolv_conf()).unwrap(),
        ORIGINAL,
        "resolv.conf is ours"
    );
    drop(client);
    lab.signal_daemon(nix::sys::signal::Signal::SIGKILL);
    std::fs::write(lab.resolv_conf(), b"").unwrap();
    lab.start_daemon();
    assert_eq!(
        std::fs::read(lab.resolv_conf()).unwrap(),
        ORIGINAL,
        "the original resolv.conf is lost:\n{}",
        lab.log()
    );
    assert!(!backup(&lab).exists());
}
