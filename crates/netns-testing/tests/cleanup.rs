//! The harness leaves nothing behind, also when the test that made the namespace panics.

use std::process::Stdio;

use kubewire_netns_testing::{Netns, can_run, check};

fn namespace_exists(name: &str) -> bool {
    check(&["ip", "netns", "list"])
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_panicking_test_leaves_no_namespace_veth_or_process_behind() {
    if !can_run(&["ip", "sleep"]) {
        return;
    }
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut a = Netns::unique("kwh-a").unwrap();
        let b = Netns::unique("kwh-b").unwrap();
        a.veth("ha", Some("198.18.9.1/24"), b.name(), "hb", Some("198.18.9.2/24"))
            .unwrap();
        a.check(&["ping", "-c", "1", "-W", "1", "198.18.9.2"]).unwrap();
        let i = a
            .spawn(&["sleep", "1000"], &[], Stdio::null(), Stdio::null())
            .unwrap();
        let pid = a.child(i).map(|c| c.id()).unwrap();
        // One more process inside that the harness did not start.
        let stray = b
            .check(&["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"])
            .unwrap();
        let stray: u32 = stray.trim().parse().unwrap();
        std::fs::create_dir_all(a.etc_dir()).unwrap();
        seen = Some((a.name().to_owned(), b.name().to_owned(), pid, stray, a.etc_dir()));
        panic!("the test fails here");
    }));
    assert!(result.is_err());
    let (a, b, pid, stray, etc) = seen.unwrap();
    assert!(!namespace_exists(&a), "{a} is still there");
    assert!(!namespace_exists(&b), "{b} is still there");
    assert!(!process_exists(pid), "the spawned child {pid} still runs");
    // The stray one is not our child: it is killed, and init reaps it.
    let gone = kubewire_netns_testing::wait_for(std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{stray}/stat"))
            .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
    });
    assert!(gone, "the process {stray} started inside still runs");
    assert!(!etc.exists(), "{} is still there", etc.display());
}
