#![allow(clippy::unwrap_used)]

//! A hostile cluster against the real CLI and daemon. A leader's
//! `kilo.squat.ai/allowed-location-ips` asks for public ranges (`1.0.0.0/8`, `2.0.0.0/8`):
//! `kubewire connect` says it left them out, the laptop has no route for them, and every pod still
//! answers through the tunnel; one asked for while connected (`3.0.0.0/8` on another node) is left
//! out by the following controller, which says so; allowed with `--allow-public-range 1.0.0.0/8`,
//! exactly that one is routed. A bad tunnel address handed out through the laptop's own Peer
//! (`8.8.8.8`, an address of the laptop's LAN, one outside the Kilo subnet): connect refuses, naming
//! it, and the laptop keeps no interface. Another Kilo Peer asking for `9.9.9.0/24` and
//! `10.77.0.1/32`: only the private one is routed. Run by `cargo xtask test` with the lab up
//! (`--ignored --test-threads=1`).

use std::time::Duration;

use kubewire_e2e::{IFACE, Laptop, expected_routes, text, wait_until};
use kubewire_lab::testing::http_get_within;

const ANNOTATION: &str = "kilo.squat.ai/allowed-location-ips";

/// Puts the annotation on a node, and takes it off again on drop (also when the test fails).
struct Annotated<'a> {
    laptop: &'a Laptop,
    node: String,
}

impl<'a> Annotated<'a> {
    fn new(laptop: &'a Laptop, node: &str, value: &str) -> Self {
        laptop
            .kubectl(&[
                "annotate",
                "node",
                node,
                "--overwrite",
                &format!("{ANNOTATION}={value}"),
            ])
            .unwrap_or_else(|e| panic!("annotating node {node}: {e}"));
        Self {
            laptop,
            node: node.to_owned(),
        }
    }
}

impl Drop for Annotated<'_> {
    fn drop(&mut self) {
        let _ = self
            .laptop
            .kubectl(&["annotate", "node", &self.node, &format!("{ANNOTATION}-")]);
    }
}

/// An extra network on the laptop, as a home LAN would be (a second address on its `eth0`, which puts
/// the prefix in its main routing table; on `lo` the prefix would go to the `local` table only),
/// removed on drop.
struct LocalNetwork<'a> {
    laptop: &'a Laptop,
    address: &'static str,
}

impl<'a> LocalNetwork<'a> {
    fn add(laptop: &'a Laptop, address: &'static str) -> Self {
        laptop
            .exec("ip", &["addr", "add", address, "dev", "eth0"])
            .unwrap_or_else(|e| panic!("adding {address} to the laptop: {e}"));
        Self { laptop, address }
    }
}

impl Drop for LocalNetwork<'_> {
    fn drop(&mut self) {
        let _ = self
            .laptop
            .exec("ip", &["addr", "del", self.address, "dev", "eth0"]);
    }
}

/// The laptop's route to `ip` (`ip route get`), or why there is none.
fn route_to(laptop: &Laptop, ip: &str) -> String {
    laptop
        .exec("ip", &["route", "get", ip])
        .unwrap_or_else(|e| format!("no route: {e}"))
}

fn through_tunnel(laptop: &Laptop, ip: &str) -> bool {
    route_to(laptop, ip).contains(IFACE)
}

fn pods_answer(laptop: &Laptop) {
    for node in &laptop.lab.nodes {
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
fn public_location_ips_are_not_routed_and_pods_still_answer() {
    let laptop = Laptop::start();
    let leader = laptop.lab.nodes.iter().find(|n| n.leader).unwrap().name.clone();
    let _annotated = Annotated::new(&laptop, &leader, "1.0.0.0/8,2.0.0.0/8");

    let out = laptop.connect(&[]);
    // The rest of the plan applies: every pod answers through the tunnel.
    pods_answer(&laptop);
    for ip in ["1.1.1.1", "2.2.2.2"] {
        assert!(
            !through_tunnel(&laptop, ip),
            "{ip} goes into the tunnel: {}",
            route_to(&laptop, ip)
        );
    }
    assert_eq!(
        laptop.tunnel_routes(),
        expected_routes(&laptop.lab),
        "exactly the cluster's private ranges"
    );
    assert!(
        out.contains("refused 1.0.0.0/8")
            && out.contains("refused 2.0.0.0/8")
            && out.contains("--allow-public-range"),
        "connect does not say it left 1.0.0.0/8 and 2.0.0.0/8 out:\n{out}"
    );

    // A public range asked for while connected: the controller re-plans, leaves it out and says so.
    let other = laptop
        .lab
        .nodes
        .iter()
        .find(|n| n.name != leader)
        .unwrap()
        .name
        .clone();
    let _later = Annotated::new(&laptop, &other, "3.0.0.0/8");
    let log = laptop
        .dir
        .path()
        .join("home/.local/state/kubewire/controller.log");
    let warned = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("warning: refused 3.0.0.0/8"));
    assert!(
        wait_until(Duration::from_secs(15), warned),
        "the controller does not say it left 3.0.0.0/8 out:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        !through_tunnel(&laptop, "3.3.3.3"),
        "3.3.3.3 goes into the tunnel: {}",
        route_to(&laptop, "3.3.3.3")
    );
    pods_answer(&laptop);
    let out = laptop.kubewire(&["disconnect"]);
    assert!(out.status.success(), "{}", text(&out));

    // Allowed explicitly: exactly that range is routed, the other still is not.
    let out = laptop.connect(&["--allow-public-range", "1.0.0.0/8"]);
    pods_answer(&laptop);
    assert!(
        through_tunnel(&laptop, "1.1.1.1"),
        "the allowed range is not routed: {}\ntunnel routes {:?}\nconnect said:\n{out}\ndaemon log:\n{}",
        route_to(&laptop, "1.1.1.1"),
        laptop.tunnel_routes(),
        laptop.daemon_log()
    );
    assert!(
        !through_tunnel(&laptop, "2.2.2.2"),
        "2.2.2.2 goes into the tunnel"
    );
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_bad_tunnel_address_from_the_laptops_peer_is_refused_naming_it() {
    let laptop = Laptop::start();
    // The laptop's Peer as kubewire registers it (its name and key), kept after disconnect so that
    // the "cluster" can rewrite its spec.allowedIPs.
    laptop.connect(&[]);
    let name = laptop
        .kubewire_peers("jsonpath={.items[0].metadata.name}")
        .unwrap();
    let out = laptop.kubewire(&["disconnect", "--keep-peer"]);
    assert!(out.status.success(), "{}", text(&out));
    let _lan = LocalNetwork::add(&laptop, "192.168.77.1/24");

    for (address, says) in [
        (
            "8.8.8.8",
            "the laptop address 8.8.8.8 is not a private-use address",
        ),
        (
            "192.168.77.1",
            "the laptop address 192.168.77.1 is inside this machine's network 192.168.77.0/24",
        ),
        (
            "10.5.0.1",
            "the laptop address 10.5.0.1 is outside the cluster's Kilo subnet",
        ),
    ] {
        let patch = format!(r#"{{"spec":{{"allowedIPs":["{address}/32"]}}}}"#);
        laptop
            .kubectl(&[
                "patch",
                "peers.kilo.squat.ai",
                &name,
                "--type",
                "merge",
                "-p",
                &patch,
            ])
            .unwrap_or_else(|e| panic!("patching Peer {name}: {e}"));
        let out = laptop.kubewire(&["connect", "--detach"]);
        let said = text(&out);
        if out.status.success() {
            let _ = laptop.kubewire(&["disconnect", "--keep-peer"]);
        }
        assert!(
            !out.status.success(),
            "connect accepted the laptop address {address} from Peer {name}:\n{said}"
        );
        assert!(said.contains(says), "connect does not name {address}:\n{said}");
        assert!(
            said.contains(&name),
            "connect does not say which Peer gave it:\n{said}"
        );
        assert!(
            !laptop.interface_exists(),
            "an interface was left after refusing {address}"
        );
        assert!(
            !through_tunnel(&laptop, address),
            "{address} goes into the tunnel"
        );
    }
}

/// A Kilo Peer created by the "cluster" (with an endpoint, so that the laptop dials it), deleted on
/// drop (also when the test fails).
struct OtherPeer<'a> {
    laptop: &'a Laptop,
    name: &'static str,
}

impl<'a> OtherPeer<'a> {
    fn create(laptop: &'a Laptop, name: &'static str, allowed_ips: &[&str]) -> Self {
        let ips: Vec<String> = allowed_ips.iter().map(|ip| format!("\"{ip}\"")).collect();
        let yaml = format!(
            "apiVersion: kilo.squat.ai/v1alpha1\nkind: Peer\nmetadata:\n  name: {name}\nspec:\n  \
             allowedIPs: [{}]\n  publicKey: AlYcQFGI4CsZhWuzUfmfcJskgFk1SRVljaF7ykRH5HI=\n  \
             persistentKeepalive: 0\n  endpoint:\n    dnsOrIP:\n      ip: 192.0.2.77\n    port: 51820\n",
            ips.join(", ")
        );
        let file = laptop.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        laptop
            .kubectl(&["create", "-f", &file.to_string_lossy()])
            .unwrap_or_else(|e| panic!("creating Peer {name}: {e}"));
        Self { laptop, name }
    }
}

impl Drop for OtherPeer<'_> {
    fn drop(&mut self) {
        let _ = self
            .laptop
            .kubectl(&["delete", "peers.kilo.squat.ai", self.name, "--ignore-not-found"]);
    }
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_peers_public_allowed_ips_are_not_routed_and_its_private_ones_are() {
    let laptop = Laptop::start();
    let _peer = OtherPeer::create(&laptop, "hostile-peer", &["9.9.9.0/24", "10.77.0.1/32"]);

    let out = laptop.connect(&[]);
    pods_answer(&laptop);
    assert!(
        !through_tunnel(&laptop, "9.9.9.9"),
        "9.9.9.9 goes into the tunnel: {}",
        route_to(&laptop, "9.9.9.9")
    );
    assert!(
        through_tunnel(&laptop, "10.77.0.1"),
        "the Peer's private address is not routed: {}\n{out}",
        route_to(&laptop, "10.77.0.1")
    );
    assert!(
        out.contains("refused 9.9.9.0/24") && out.contains("--allow-public-range"),
        "connect does not say it left 9.9.9.0/24 out:\n{out}"
    );
}
