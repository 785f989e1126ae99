#![allow(clippy::unwrap_used)]

//! A LAN joined after connect (issue 13, item 1): the laptop's new network overlaps one node's pod
//! range. The LAN wins for exactly that range (its route leaves the tunnel, the rest of the Plan
//! stays, `status` names the range and the interface), the cluster's live changes still apply, and
//! the range comes back when the LAN goes. Run by `cargo xtask test` with the lab up
//! (`--ignored --test-threads=1`).

use std::time::Duration;

use kubewire_e2e::{Laptop, Restore, text, wait_until};
use kubewire_lab::control::Request;
use kubewire_lab::testing::{control, http_get_within};

/// The stand-in for the Wi-Fi the user joins.
const LAN: &str = "kwlan0";

/// A LAN on `address` (with its prefix) in the laptop, removed on drop.
struct Lan<'a>(&'a Laptop);

impl<'a> Lan<'a> {
    fn join(laptop: &'a Laptop, address: &str) -> Self {
        let _ = laptop.exec("ip", &["link", "del", LAN]);
        // A veth pair (this kernel has no dummy links); its far end stays in the laptop too.
        laptop
            .exec(
                "ip",
                &["link", "add", LAN, "type", "veth", "peer", "name", "kwlan0p"],
            )
            .unwrap();
        let lan = Lan(laptop);
        laptop.exec("ip", &["addr", "add", address, "dev", LAN]).unwrap();
        laptop.exec("ip", &["link", "set", "kwlan0p", "up"]).unwrap();
        laptop.exec("ip", &["link", "set", LAN, "up"]).unwrap();
        lan
    }
}

impl Drop for Lan<'_> {
    fn drop(&mut self) {
        let _ = self.0.exec("ip", &["link", "del", LAN]);
    }
}

/// The device the laptop's kernel picks for `ip`.
fn device_for(laptop: &Laptop, ip: &str) -> String {
    let out = laptop
        .exec("ip", &["-o", "route", "get", ip])
        .unwrap_or_else(|e| e);
    out.split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_lan_joined_after_connect_wins_its_range_and_the_range_comes_back_when_it_goes() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let ns = lab.laptop_netns.clone();
    laptop.connect(&[]);
    let ready: Vec<_> = lab.nodes.iter().filter(|n| n.ready).collect();
    let (covered, other) = (ready[ready.len() - 1].clone(), ready[0].clone());
    for node in [&covered, &other] {
        let body = http_get_within(&ns, &format!("http://{}/", node.pod_ip), Duration::from_secs(10));
        assert_eq!(body.unwrap(), node.pod_name);
    }
    assert!(laptop.tunnel_routes().contains(&covered.pod_cidr));

    // The user joins a network on the same range as one node's pods.
    let prefix: &str = covered.pod_cidr.split('/').nth(1).unwrap();
    let base = covered.pod_cidr.split('/').next().unwrap();
    let lan_address = format!("{}.250/{prefix}", base.rsplit_once('.').unwrap().0);
    let joined = std::time::Instant::now();
    let lan = Lan::join(&laptop, &lan_address);
    let pod = covered.pod_ip.clone();
    assert!(
        wait_until(Duration::from_secs(5), || !laptop
            .tunnel_routes()
            .contains(&covered.pod_cidr)),
        "the tunnel still routes {} over the LAN {lan_address}; tunnel routes: {:?}\n{}",
        covered.pod_cidr,
        laptop.tunnel_routes(),
        laptop.daemon_log()
    );
    eprintln!(
        "MEASURE the LAN's range left the tunnel {:?} after the LAN came up",
        joined.elapsed()
    );
    assert_eq!(device_for(&laptop, &pod), LAN, "the LAN wins {pod}");
    // Exactly that range: the rest of the Plan stays.
    assert_eq!(
        http_get_within(&ns, &format!("http://{}/", other.pod_ip), Duration::from_secs(5)).unwrap(),
        other.pod_name
    );
    let status = text(&laptop.kubewire(&["status"]));
    assert!(
        status.contains(&covered.pod_cidr) && status.contains(LAN),
        "status names the withdrawn range and the LAN's interface:\n{status}"
    );
    let line = status
        .lines()
        .find(|l| l.starts_with("network:"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("on {LAN} appeared"))
            && line.contains(&format!("{} (", covered.pod_cidr))
            && line.contains("withdrawn from the tunnel"),
        "status tells the last network event and what was done:\n{status}"
    );

    // The cluster's live changes still apply while the LAN is there (the controller's Plans still
    // hold the withdrawn range: the daemon withdraws it again, it does not refuse the Plan).
    let _restore = Restore(vec![Request::RemoveNode { name: "ovh".into() }]);
    let added = control(&Request::AddNode {
        name: "ovh".into(),
        location: "ovh".into(),
    })
    .unwrap()
    .lab
    .unwrap();
    let ovh = added.node("ovh").unwrap().clone();
    assert_eq!(
        http_get_within(&ns, &format!("http://{}/", ovh.pod_ip), Duration::from_secs(15)).unwrap(),
        ovh.pod_name,
        "a node that joins while the LAN is there is reached\n{}",
        laptop.daemon_log()
    );
    assert!(
        !laptop.tunnel_routes().contains(&covered.pod_cidr),
        "still withdrawn after a new Plan"
    );

    // The user leaves the LAN: the range comes back by itself.
    let left = std::time::Instant::now();
    drop(lan);
    assert!(
        wait_until(Duration::from_secs(5), || laptop
            .tunnel_routes()
            .contains(&covered.pod_cidr)),
        "{} is not routed into the tunnel again after the LAN left: {:?}\n{}",
        covered.pod_cidr,
        laptop.tunnel_routes(),
        laptop.daemon_log()
    );
    eprintln!(
        "MEASURE the range was back in the tunnel {:?} after the LAN left",
        left.elapsed()
    );
    assert_eq!(
        http_get_within(&ns, &format!("http://{}/", pod), Duration::from_secs(10)).unwrap(),
        covered.pod_name
    );
    let status = text(&laptop.kubewire(&["status"]));
    assert!(
        !status
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains(LAN)),
        "the warning is gone:\n{status}"
    );
    assert!(
        status.contains(&format!("on {LAN} went away → {} (", covered.pod_cidr))
            && status.contains("routed into the tunnel again"),
        "status tells the LAN left and the range came back:\n{status}"
    );
}

/// Whether the LAN's own route to `cidr` is still there (the kernel's, on the LAN's interface).
fn lan_route(laptop: &Laptop, cidr: &str) -> bool {
    laptop
        .exec("ip", &["route", "show", "dev", LAN])
        .unwrap_or_default()
        .contains(cidr)
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_range_the_user_prefers_stays_in_the_tunnel_over_the_lan_remembered_until_lan_wins() {
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    let ns = lab.laptop_netns.clone();
    let ready: Vec<_> = lab.nodes.iter().filter(|n| n.ready).collect();
    let covered = ready[ready.len() - 1].clone();
    let base = covered.pod_cidr.split('/').next().unwrap();
    let prefix: &str = covered.pod_cidr.split('/').nth(1).unwrap();
    let lan_address = format!("{}.250/{prefix}", base.rsplit_once('.').unwrap().0);
    let pod = covered.pod_ip.clone();
    let iface = kubewire_e2e::IFACE;

    // The user chose: this range goes to the cluster even where a LAN overlaps it.
    laptop.connect(&["--prefer-tunnel", &covered.pod_cidr]);
    let lan = Lan::join(&laptop, &lan_address);
    assert!(
        wait_until(Duration::from_secs(5), || device_for(&laptop, &pod) == iface),
        "{pod} goes to {} although the user prefers the tunnel for {}\n{}",
        device_for(&laptop, &pod),
        covered.pod_cidr,
        laptop.daemon_log()
    );
    assert_eq!(
        http_get_within(&ns, &format!("http://{pod}/"), Duration::from_secs(5)).unwrap(),
        covered.pod_name
    );
    assert!(
        lan_route(&laptop, &covered.pod_cidr),
        "the LAN's own route is gone"
    );
    let status = text(&laptop.kubewire(&["status"]));
    assert!(
        !status
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("wins until it goes away")),
        "nothing is withdrawn:\n{status}"
    );

    // Remembered for the context: a new connection keeps the choice, with the LAN already there.
    assert!(laptop.kubewire(&["disconnect"]).status.success());
    assert!(
        lan_route(&laptop, &covered.pod_cidr),
        "disconnect took the LAN's route"
    );
    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(5), || device_for(&laptop, &pod) == iface),
        "the choice was not remembered: {pod} goes to {}",
        device_for(&laptop, &pod)
    );
    assert!(
        lan_route(&laptop, &covered.pod_cidr),
        "routing the preferred range replaced the LAN's own route"
    );

    // `--lan-wins` undoes it: the LAN takes the range again, and the warning says how to prefer it.
    assert!(laptop.kubewire(&["disconnect"]).status.success());
    assert!(
        lan_route(&laptop, &covered.pod_cidr),
        "disconnect took the LAN's route: {}",
        laptop.exec("ip", &["route"]).unwrap_or_default()
    );
    laptop.connect(&["--lan-wins", &covered.pod_cidr]);
    assert_eq!(device_for(&laptop, &pod), LAN, "the LAN wins {pod} again");
    let doctor = text(&laptop.kubewire(&["doctor"]));
    assert!(
        doctor.contains(&format!("kubewire connect --prefer-tunnel {}", covered.pod_cidr)),
        "doctor names the command that routes it anyway:\n{doctor}"
    );
    drop(lan);
}
