#![allow(clippy::unwrap_used)]

//! Preshared keys end to end, with the real CLI and daemon and the lab's nodes (which, as Kilo's do,
//! put a Peer's `spec.presharedKey` on their WireGuard peer). `connect --psk` makes a preshared key,
//! keeps it beside the private key and puts it on the laptop's Peer: every pod answers through the
//! tunnel, and the key shows in no log and no `showconf`. Then the laptop forgets the key while an
//! admin's Peer (`kubewire enroll --print`, with that key added) still carries it: connect warns,
//! the nodes drop the laptop's handshakes and no pod answers; with the key back, they answer again.
//! Run by `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::path::PathBuf;
use std::time::Duration;

use kubewire_e2e::{Laptop, text};
use kubewire_lab::testing::http_get_within;

/// The laptop's preshared key files (the keyring is not reachable in the lab's laptop namespace).
fn psk_files(laptop: &Laptop) -> Vec<PathBuf> {
    let dir = laptop.dir.path().join("home/.config/kubewire/keys");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "psk"))
                .collect()
        })
        .unwrap_or_default()
}

fn pods_answer(laptop: &Laptop) {
    for node in laptop.lab.nodes.iter().filter(|n| n.ready) {
        let body = http_get_within(
            &laptop.lab.laptop_netns,
            &format!("http://{}/", node.pod_ip),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("pod {}: {e}\n{}", node.pod_name, laptop.daemon_log()));
        assert_eq!(body, node.pod_name);
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_peer_with_a_preshared_key_works_and_without_the_key_the_handshake_fails() {
    let laptop = Laptop::start();

    // connect --psk: the key is made, kept beside the private key, and on the Peer.
    laptop.connect(&["--psk"]);
    let on_peer = laptop
        .kubewire_peers("jsonpath={.items[*].spec.presharedKey}")
        .unwrap();
    assert_eq!(on_peer.trim().len(), 44, "the Peer's presharedKey: {on_peer:?}");
    let files = psk_files(&laptop);
    assert_eq!(files.len(), 1, "{files:?}");
    let kept = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(kept.trim(), on_peer.trim());
    pods_answer(&laptop);
    let showconf = text(&laptop.kubewire(&["showconf"]));
    assert!(
        !showconf.contains(on_peer.trim()),
        "showconf shows the key: {showconf}"
    );
    for (what, log) in [
        ("daemon", laptop.daemon_log()),
        ("controller", laptop.controller_log()),
    ] {
        assert!(
            !log.contains(on_peer.trim()),
            "the {what} log holds the preshared key"
        );
    }
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));

    // The laptop forgets its key; an admin's Peer still carries it.
    std::fs::remove_file(&files[0]).unwrap();
    let out = laptop.kubewire(&["enroll", "--print"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!yaml.contains("presharedKey"), "{yaml}");
    let with_psk = yaml.replacen(
        "spec:\n",
        &format!("spec:\n  presharedKey: {}\n", on_peer.trim()),
        1,
    );
    let peer_file = laptop.dir.path().join("peer.yaml");
    std::fs::write(&peer_file, &with_psk).unwrap();
    laptop
        .kubectl(&["apply", "-f", &peer_file.to_string_lossy()])
        .unwrap_or_else(|e| panic!("kubectl apply: {e}\n{with_psk}"));
    let said = laptop.connect(&[]);
    assert!(
        said.contains("provided by an admin") && said.contains("no preshared key for this cluster"),
        "{said}"
    );
    let node = laptop.lab.nodes.iter().find(|n| n.ready).unwrap();
    let answer = http_get_within(
        &laptop.lab.laptop_netns,
        &format!("http://{}/", node.pod_ip),
        Duration::from_secs(6),
    );
    assert!(
        answer.is_err(),
        "a pod answered without the preshared key: {answer:?}"
    );
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));

    // The key back: the same admin's Peer works.
    std::fs::write(&files[0], kept).unwrap();
    let said = laptop.connect(&[]);
    assert!(!said.contains("presharedKey"), "{said}");
    pods_answer(&laptop);
}
