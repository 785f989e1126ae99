#![allow(clippy::unwrap_used)]

//! Every segment ready before the first packet (issue 15, item 2). WireGuard handshakes when a packet
//! is to be sent or at the persistent keepalive, up to 25 s later: a segment nobody has sent to yet
//! showed "no handshake" and the user's first request to its pods waited for one. kubewired now
//! starts the handshake with every peer it adds at once, and again when it renews them (a roam, a
//! resume). Run by `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::time::{Duration, Instant};

use kubewire_e2e::{IFACE, Laptop, wait_until};

/// Peers of the tunnel that have not handshaken yet (`wg show <iface> latest-handshakes`: 0).
fn without_handshake(laptop: &Laptop) -> Vec<String> {
    laptop
        .exec("wg", &["show", IFACE, "latest-handshakes"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("0"))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn every_segment_handshakes_right_after_connect_without_traffic() {
    let laptop = Laptop::start();
    laptop.connect(&[]);
    let connected = Instant::now();
    let peers = laptop
        .exec("wg", &["show", IFACE, "peers"])
        .unwrap()
        .lines()
        .count();
    assert!(peers >= 2, "the lab has several segments: {peers}");
    // Nothing is sent into the tunnel by this test: only kubewired's own start.
    let all = wait_until(Duration::from_secs(3), || without_handshake(&laptop).is_empty());
    assert!(
        all,
        "{} of {peers} segments have not handshaken 3 s after connect, with no traffic: {:?}\n{}",
        without_handshake(&laptop).len(),
        without_handshake(&laptop),
        laptop.daemon_log()
    );
    eprintln!(
        "MEASURE all {peers} segments handshaken {:?} after connect returned",
        connected.elapsed()
    );
}
