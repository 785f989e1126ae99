#![allow(clippy::unwrap_used)]

//! A daemon restart with a controller running (issue 12, item 2): `kill -9` kubewired and start it
//! again, as systemd's `Restart=` and every package upgrade do. The restarted daemon cleans up what
//! its predecessor left; the controller, still running, notices that its daemon went away, reconnects
//! and applies its Plan again: the tunnel and the split DNS come back without the user doing anything.
//! The tray's variant is in `tray.rs` (it needs that file's fake desktop). Run by `cargo xtask test`
//! with the lab up (`--ignored --test-threads=1`).

use std::time::{Duration, Instant};

use kubewire_e2e::{Laptop, wait_until};
use kubewire_lab::testing::http_get_within;

/// How soon after the daemon's return the tunnel must work again.
const BACK_WITHIN: Duration = Duration::from_secs(5);

const WEB: &str = "web.default.svc.cluster.local";

fn getent(laptop: &Laptop, name: &str) -> Result<String, String> {
    laptop.exec("getent", &["hosts", name])
}

/// The first pod answers within `within`.
fn pod_answers(laptop: &Laptop, within: Duration) -> Result<(), String> {
    let node = &laptop.lab.nodes[0];
    let body = http_get_within(
        &laptop.lab.laptop_netns,
        &format!("http://{}/", node.pod_ip),
        within,
    )?;
    if body == node.pod_name {
        Ok(())
    } else {
        Err(format!("{} answered {body:?}", node.pod_ip))
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_restarted_daemon_gets_the_tunnel_and_dns_back_from_the_running_controller() {
    let mut laptop = Laptop::start();
    // The lab gives the laptop its own resolv.conf, so the split DNS runs: never pass without it.
    let dns = laptop.resolv_conf_path().exists();
    assert!(
        dns,
        "the lab gives {} its own resolv.conf",
        laptop.lab.laptop_netns
    );
    laptop.connect(&[]);
    pod_answers(&laptop, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("before the restart: {e}\n{}", laptop.daemon_log()));
    if dns {
        assert!(
            wait_until(Duration::from_secs(15), || getent(&laptop, WEB).is_ok()),
            "{WEB} resolves before the restart\n{}",
            laptop.daemon_log()
        );
    }

    let old_pid = laptop.crash_daemon();
    eprintln!("killed kubewired (pid {old_pid}) with SIGKILL");
    // The daemon is away for a moment, as between systemd's restarts.
    std::thread::sleep(Duration::from_millis(500));
    laptop.start_daemon();
    let back = Instant::now();

    let answered = wait_until(BACK_WITHIN, || {
        pod_answers(&laptop, Duration::from_millis(500)).is_ok()
    });
    let took = back.elapsed();
    assert!(
        answered,
        "no pod answers {BACK_WITHIN:?} after the daemon's return: the controller did not re-apply\n\
         status: {}\n--- controller log\n{}\n--- daemon log\n{}",
        laptop.status(),
        laptop.controller_log(),
        laptop.daemon_log()
    );
    eprintln!("a pod answered {took:?} after the daemon's return");
    let connected = wait_until(BACK_WITHIN, || laptop.status()["daemon"]["state"] == "connected");
    let status = laptop.status();
    assert!(connected, "status says connected again: {status}");
    assert_eq!(
        status["daemon"]["controller_attached"], true,
        "the running controller is attached again: {status}"
    );
    if dns {
        assert!(
            wait_until(BACK_WITHIN, || getent(&laptop, WEB).is_ok()),
            "{WEB} resolves again after the restart\nresolv.conf:\n{}\n{}",
            String::from_utf8_lossy(&laptop.resolv_conf()),
            laptop.daemon_log()
        );
        eprintln!("{WEB} resolved {:?} after the daemon's return", back.elapsed());
    }
    let log = laptop.controller_log();
    assert!(
        log.contains("kubewire daemon went away"),
        "the controller says the daemon went away: {log}"
    );

    // A second restart works the same (the controller's new connections are followed too).
    laptop.crash_daemon();
    laptop.start_daemon();
    assert!(
        wait_until(BACK_WITHIN, || pod_answers(&laptop, Duration::from_millis(500))
            .is_ok()),
        "after a second restart\n{}",
        laptop.controller_log()
    );

    // Disconnect still takes everything down (the controller stops, the daemon removes the tunnel).
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", kubewire_e2e::text(&out));
    assert!(!laptop.interface_exists(), "interface removed");
    if dns {
        assert!(
            getent(&laptop, WEB).is_err(),
            "cluster names gone after disconnect"
        );
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn while_the_daemon_is_gone_the_controller_says_so() {
    let mut laptop = Laptop::start();
    laptop.connect(&[]);
    pod_answers(&laptop, Duration::from_secs(10)).unwrap();
    laptop.crash_daemon();
    let status_file = laptop
        .dir
        .path()
        .join("home/.local/state/kubewire/controller.json");
    let said = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["daemon_lost_since"].is_u64())
    });
    assert!(
        said,
        "controller.json says the daemon is gone: {}",
        std::fs::read_to_string(&status_file).unwrap_or_default()
    );
    // `kubewire status` cannot ask the daemon; it says what the controller knows, not "connected".
    let out = laptop.kubewire(&["status"]);
    let text = kubewire_e2e::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("restores the tunnel when it is back"),
        "status says the controller waits for the daemon: {text}"
    );
    laptop.start_daemon();
    assert!(
        wait_until(BACK_WITHIN, || pod_answers(&laptop, Duration::from_millis(500))
            .is_ok()),
        "{}",
        laptop.controller_log()
    );
}
