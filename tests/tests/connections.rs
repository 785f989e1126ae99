#![allow(clippy::unwrap_used)]

//! Several connections (issue 14, first step): a connection is named (the context made DNS-safe, or
//! `--name`) and has its own interface. The lab's one cluster connected a second time under another
//! name overlaps the first connection's ranges: refused, naming that connection, and nothing changes
//! (routes, interfaces, the state file, the cluster's Peers, the first connection's traffic).
//! Run by `cargo xtask test` with the default lab up (`--ignored --test-threads=1`).

use std::time::Duration;

use kubewire_e2e::{CONNECTION, IFACE, Laptop, text};
use kubewire_lab::testing::http_get_within;

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn the_same_cluster_under_a_second_name_is_refused_as_overlapping_and_changes_nothing() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    laptop.connect(&[]);

    // The connection is listed by name with its own interface, the single-connection keys kept.
    let status = laptop.status();
    let connections = status["daemon"]["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{status}");
    assert_eq!(connections[0]["session"]["name"], CONNECTION, "{status}");
    assert_eq!(connections[0]["interface"], IFACE, "{status}");
    assert_eq!(status["daemon"]["interface"], IFACE, "{status}");
    assert_eq!(status["daemon"]["state"], connections[0]["state"], "{status}");
    assert!(status["controllers"][CONNECTION]["pid"].is_u64(), "{status}");
    assert!(laptop.interface_exists());

    let routes = laptop.tunnel_routes();
    let links = laptop.exec("ip", &["-o", "link", "show"]).unwrap();
    let state = std::fs::read(laptop.state_dir().join("state.json")).unwrap();
    // The Peers as the cluster has them (names and specs; the refused connect applies the same Peer
    // again, which changes nothing in it).
    let peer_specs = "jsonpath={range .items[*]}{.metadata.name} {.spec}{\"\\n\"}{end}";
    let peers = laptop.kubewire_peers(peer_specs).unwrap();

    // The same cluster again, under another name: its ranges overlap the first connection's.
    let out = laptop.kubewire(&["connect", "--name", "second", "--detach"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "a second connection to the same ranges was not refused: {said}"
    );
    assert!(
        said.contains("overlap the connection kubewire-lab") && said.contains("translation"),
        "the refusal does not name the connection: {said}\n{}",
        laptop.daemon_log()
    );

    // Nothing changed.
    assert_eq!(
        laptop.tunnel_routes(),
        routes,
        "the refused connection changed the routes"
    );
    assert_eq!(
        laptop.exec("ip", &["-o", "link", "show"]).unwrap(),
        links,
        "the refused connection changed the links"
    );
    assert!(
        laptop.exec("ip", &["link", "show", "kubewire-second"]).is_err(),
        "the refused connection's interface exists"
    );
    assert_eq!(
        std::fs::read(laptop.state_dir().join("state.json")).unwrap(),
        state,
        "the refused connection wrote the state file"
    );
    assert_eq!(
        laptop.kubewire_peers(peer_specs).unwrap(),
        peers,
        "the refused connection changed the cluster's Peers"
    );
    let status = laptop.status();
    assert_eq!(
        status["daemon"]["connections"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
    assert!(status["controllers"].get("second").is_none(), "{status}");
    let node = &lab.nodes[0];
    let body = http_get_within(
        &lab.laptop_netns,
        &format!("http://{}/", node.pod_ip),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| {
        panic!(
            "the first connection stopped working: {e}\n{}",
            laptop.daemon_log()
        )
    });
    assert_eq!(body, node.pod_name);

    // With one connection up, `disconnect` without a name ends that one; a name nobody has is said.
    let out = laptop.kubewire(&["disconnect", "--name", "nosuch"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no connection named nosuch is up (connected: kubewire-lab"),
        "{}",
        text(&out)
    );
    assert!(
        laptop.interface_exists(),
        "disconnect --name nosuch ended another connection"
    );
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!laptop.interface_exists(), "interface removed");
    assert!(
        !laptop.state_dir().join("state.json").exists(),
        "state file removed"
    );
    let left = laptop.kubewire_peers("name").unwrap();
    assert!(left.trim().is_empty(), "Peer deleted: {left}");
}
