#![allow(clippy::unwrap_used)]

//! Sleep, resume and roaming (issue 13, item 4): the network moves under a connected laptop, or the
//! laptop stops for a while, and the tunnel must work again within seconds, with `status` telling
//! what happened. Three scenarios, each on a connected laptop in the lab:
//! - roaming: the laptop's underlay address changes (the old one goes, a new one comes);
//! - the underlay disappears for 20 s (link down) and returns (link up, routes back as a DHCP
//!   client puts them);
//! - the laptop is frozen (SIGSTOP of kubewired and of the controller) for longer than a WireGuard
//!   session lives (REJECT_AFTER_TIME, 180 s) and thawed.
//!
//! The freeze lasts `KUBEWIRE_TEST_FREEZE_SECS` seconds (default 190: past the 180 s after which
//! WireGuard rejects a session's keys, so the thawed laptop must handshake anew). Run by
//! `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::time::{Duration, Instant};

use kubewire_e2e::{Laptop, text, wait_until};
use kubewire_lab::testing::http_get_within;

/// How soon the tunnel must work again after the network returns or the laptop thaws.
const BACK_WITHIN: Duration = Duration::from_secs(10);
/// The laptop's link to the world (the lab's underlay).
const UNDERLAY: &str = "eth0";
/// The lab's underlay prefix and the laptop's address on it.
const PREFIX: &str = "192.0.2.0/24";
const HOME: &str = "192.0.2.100";
/// Where the laptop roams to (free in the lab: nodes take .10 and up, by twos at most a dozen).
const HOTEL: &str = "192.0.2.150";
const WEB: &str = "web.default.svc.cluster.local";

/// Every ready pod answers within `within` (each with its own name).
fn pods_answer(laptop: &Laptop, within: Duration) -> Result<(), String> {
    for node in laptop.lab.nodes.iter().filter(|n| n.ready) {
        let body = http_get_within(
            &laptop.lab.laptop_netns,
            &format!("http://{}/", node.pod_ip),
            within,
        )?;
        if body != node.pod_name {
            return Err(format!("{} answered {body:?}", node.pod_ip));
        }
    }
    Ok(())
}

/// How long after `since` every pod answered, or `None` when they did not within [`BACK_WITHIN`].
fn back_after(laptop: &Laptop, since: Instant) -> Option<Duration> {
    wait_until(BACK_WITHIN, || {
        pods_answer(laptop, Duration::from_millis(700)).is_ok()
    })
    .then(|| since.elapsed())
}

fn status_text(laptop: &Laptop) -> String {
    text(&laptop.kubewire(&["status"]))
}

/// `status` once it says `what` on its network line (the daemon follows a change after a 200 ms
/// quiet time), or as it is after 5 s.
fn status_saying(laptop: &Laptop, what: &str) -> String {
    let said = |s: &str| s.lines().any(|l| l.starts_with("network:") && l.contains(what));
    wait_until(Duration::from_secs(5), || said(&status_text(laptop)));
    status_text(laptop)
}

fn controller_pid(laptop: &Laptop) -> i32 {
    let path = laptop
        .dir
        .path()
        .join("home/.local/state/kubewire/controller.pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

fn why(laptop: &Laptop) -> String {
    format!(
        "status:\n{}\n--- controller log\n{}\n--- daemon log\n{}",
        status_text(laptop),
        laptop.controller_log(),
        laptop.daemon_log()
    )
}

fn connected(laptop: &Laptop) {
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(15), || pods_answer(
            laptop,
            Duration::from_millis(700)
        )
        .is_ok()),
        "pods answer before anything happens\n{}",
        why(laptop)
    );
}

/// Puts the laptop's underlay back as the lab made it, whatever a test left.
struct Underlay<'a>(&'a Laptop);

impl Drop for Underlay<'_> {
    fn drop(&mut self) {
        let l = self.0;
        let _ = l.exec("ip", &["link", "set", UNDERLAY, "up"]);
        let _ = l.exec("ip", &["addr", "del", &format!("{HOTEL}/24"), "dev", UNDERLAY]);
        let _ = l.exec("ip", &["addr", "replace", &format!("{HOME}/24"), "dev", UNDERLAY]);
        let _ = l.exec("ip", &["route", "replace", PREFIX, "dev", UNDERLAY, "src", HOME]);
    }
}

/// Sends signal `sig` to `pid`.
fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
}

/// The processes a freeze stopped, continued on drop (also when the test fails).
struct Frozen(Vec<i32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn roaming_to_a_new_underlay_address_keeps_the_pods_answering() {
    let laptop = Laptop::start();
    let _put_back = Underlay(&laptop);
    connected(&laptop);

    // The laptop roams: the old address goes, a new one on the same link comes (a new DHCP lease).
    laptop
        .exec("ip", &["addr", "del", &format!("{HOME}/24"), "dev", UNDERLAY])
        .unwrap();
    laptop
        .exec("ip", &["addr", "add", &format!("{HOTEL}/24"), "dev", UNDERLAY])
        .unwrap();
    let roamed = Instant::now();
    let took = back_after(&laptop, roamed);
    assert!(
        took.is_some(),
        "no pod answers {BACK_WITHIN:?} after the laptop roamed from {HOME} to {HOTEL}\n{}",
        why(&laptop)
    );
    eprintln!("MEASURE roaming: every pod answered {took:?} after the address changed");
    let status = status_saying(&laptop, HOTEL);
    assert!(
        status.contains("network:") && status.contains(HOTEL),
        "status tells the laptop's new address:\n{status}"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn the_underlay_gone_for_20_s_and_back_the_pods_answer_and_names_resolve() {
    let laptop = Laptop::start();
    let _put_back = Underlay(&laptop);
    connected(&laptop);

    laptop.exec("ip", &["link", "set", UNDERLAY, "down"]).unwrap();
    std::thread::sleep(Duration::from_secs(20));
    laptop.exec("ip", &["link", "set", UNDERLAY, "up"]).unwrap();
    // What a DHCP client does on a new carrier: its address and routes again.
    let _ = laptop.exec("ip", &["addr", "replace", &format!("{HOME}/24"), "dev", UNDERLAY]);
    let _ = laptop.exec("ip", &["route", "replace", PREFIX, "dev", UNDERLAY, "src", HOME]);
    let returned = Instant::now();
    let took = back_after(&laptop, returned);
    assert!(
        took.is_some(),
        "no pod answers {BACK_WITHIN:?} after the underlay came back\n{}",
        why(&laptop)
    );
    eprintln!("MEASURE underlay away 20 s: every pod answered {took:?} after it came back");
    assert!(
        wait_until(BACK_WITHIN, || laptop.exec("getent", &["hosts", WEB]).is_ok()),
        "{WEB} resolves after the underlay came back\n{}",
        why(&laptop)
    );
    eprintln!(
        "MEASURE underlay away 20 s: {WEB} resolved {:?} after it came back",
        returned.elapsed()
    );
    let status = status_saying(&laptop, "the underlay came back");
    assert!(
        status.contains("network:") && status.contains("the underlay came back"),
        "status tells the underlay came back:\n{status}"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_laptop_frozen_past_a_wireguard_session_and_thawed_answers_again() {
    let freeze = std::env::var("KUBEWIRE_TEST_FREEZE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(190u64);
    let laptop = Laptop::start();
    connected(&laptop);
    let daemon = i32::try_from(laptop.daemon_pid().unwrap()).unwrap();
    let controller = controller_pid(&laptop);

    // Sleep: both of kubewire's processes stop where they are, as in a suspend.
    let frozen = Frozen(vec![daemon, controller]);
    signal(daemon, nix::sys::signal::Signal::SIGSTOP);
    signal(controller, nix::sys::signal::Signal::SIGSTOP);
    eprintln!("froze kubewired ({daemon}) and the controller ({controller}) for {freeze} s");
    std::thread::sleep(Duration::from_secs(freeze));
    drop(frozen);
    let thawed = Instant::now();
    let took = back_after(&laptop, thawed);
    assert!(
        took.is_some(),
        "no pod answers {BACK_WITHIN:?} after a {freeze} s freeze\n{}",
        why(&laptop)
    );
    eprintln!("MEASURE frozen {freeze} s: every pod answered {took:?} after the thaw");
    let thaw_log = |log: String| {
        log.lines()
            .filter(|l| l.contains("resumed") || l.contains("handshakes started"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join("\n")
    };
    eprintln!(
        "thawed at {:?}\n--- daemon\n{}\n--- controller\n{}",
        std::time::SystemTime::now() - thawed.elapsed(),
        thaw_log(laptop.daemon_log()),
        thaw_log(laptop.controller_log())
    );
    assert!(
        wait_until(BACK_WITHIN, || laptop.exec("getent", &["hosts", WEB]).is_ok()),
        "{WEB} resolves after the thaw\n{}",
        why(&laptop)
    );
    let status = status_saying(&laptop, "resumed after");
    assert!(
        status.contains("network:") && status.contains("resumed after"),
        "status tells the laptop resumed:\n{status}"
    );
    assert!(
        laptop.controller_log().contains("resumed"),
        "the controller noticed the resume and re-listed the cluster\n{}",
        laptop.controller_log()
    );
}
