#![allow(clippy::unwrap_used)]

//! Segments ready before the first packet (issue 15, item 2). WireGuard handshakes when a packet is
//! to be sent or at the persistent keepalive, up to 25 s later: a node that moved (or joined) showed
//! "no handshake" until traffic came, and the user's first request to its pods waited for one.
//! kubewired now starts the handshake with every peer an update adds at once, and again when it
//! renews them (a roam, a resume). Not at connect: the laptop's Peer is new then, and a node that
//! has not configured it yet drops the initiation (WireGuard then waits 5 s before the next try). Run
//! by `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kubewire_e2e::{IFACE, Laptop, wait_until};
use kubewire_lab::control::Request;
use kubewire_lab::testing::control;

/// The peer's latest handshake (`wg show <iface> latest-handshakes`), 0 for none.
fn latest_handshake(laptop: &Laptop, key: &str) -> u64 {
    laptop
        .exec("wg", &["show", IFACE, "latest-handshakes"])
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Puts a node's address back when the test ends, also on failure.
struct MovedBack(String, Ipv4Addr);

impl Drop for MovedBack {
    fn drop(&mut self) {
        let _ = control(&Request::SetEndpoint {
            name: self.0.clone(),
            ip: self.1,
        });
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_node_that_moves_handshakes_at_its_new_address_without_traffic() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    // A segment leader nobody sends to (not the service gateway, which DNS traffic may reach).
    laptop.connect(&[]);
    let gateway = laptop.status()["daemon"]["service_gateway"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let node = lab
        .nodes
        .iter()
        .find(|n| n.leader && !gateway.ends_with(&n.location))
        .unwrap()
        .clone();
    let original: Ipv4Addr = node.endpoint.split(':').next().unwrap().parse().unwrap();
    let _back = MovedBack(node.name.clone(), original);
    let before = latest_handshake(&laptop, &node.public_key);

    // The node moves: the update removes its peer and adds it again at the new endpoint.
    let moved_to = Ipv4Addr::new(192, 0, 2, 171);
    control(&Request::SetEndpoint {
        name: node.name.clone(),
        ip: moved_to,
    })
    .unwrap();
    let want = format!("{moved_to}:51820");
    assert!(
        wait_until(Duration::from_secs(5), || laptop
            .exec("wg", &["show", IFACE, "endpoints"])
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&node.public_key) && l.ends_with(&want))),
        "the move was not applied"
    );
    let applied = Instant::now();
    // Nothing is sent into the tunnel by this test: only kubewired's own start.
    let handshaken = wait_until(Duration::from_secs(3), || {
        latest_handshake(&laptop, &node.public_key) > before
    });
    assert!(
        handshaken,
        "{} at {want} has not handshaken 3 s after the move, with no traffic\n{}",
        node.name,
        laptop.daemon_log()
    );
    eprintln!(
        "MEASURE {} handshaken at its new address {:?} after the move was applied",
        node.name,
        applied.elapsed()
    );
}
