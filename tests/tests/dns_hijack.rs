#![allow(clippy::unwrap_used)]

//! A hostile cluster DNS must not take over internet names (issue 12, item 1). The lab's cluster
//! gets a namespace `com` with a Service `github` (so its DNS answers `github.com.svc.cluster.local`);
//! connected with kubewire (resolv.conf mode, the daemon's resolver is the laptop's system
//! resolver), `github.com` must not resolve to the cluster's address and neither `github.com` nor
//! `example.test` may reach the cluster DNS at all (its query log), while `web.default` (a real
//! namespace) still resolves, and a namespace created while connected is usable within seconds.
//! Run by `cargo xtask test` with the lab up (`--ignored --test-threads=1`).

use std::net::Ipv4Addr;
use std::time::Duration;

use kubewire_e2e::{Laptop, wait_until};
use kubewire_lab::control::Request;
use kubewire_lab::testing::{control, exec};

const WEB: &str = "web.default.svc.cluster.local";
/// The hostile Service's address (in the lab's service CIDR, backed by `web`'s pods).
const GITHUB_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 66);
const TEAM_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 67);

fn getent(laptop: &Laptop, name: &str) -> Result<String, String> {
    laptop.exec("getent", &["hosts", name])
}

/// Services added to the lab for this test, removed again however the test ends.
struct Added(Vec<(&'static str, &'static str)>);

impl Added {
    fn add(&mut self, namespace: &'static str, name: &'static str, ip: Ipv4Addr) {
        let r = control(&Request::AddService {
            namespace: namespace.into(),
            name: name.into(),
            cluster_ip: ip,
        });
        assert!(r.is_ok(), "adding {namespace}/{name} to the lab: {r:?}");
        self.0.push((namespace, name));
    }
}

impl Drop for Added {
    fn drop(&mut self) {
        for (namespace, name) in self.0.drain(..) {
            let _ = control(&Request::RemoveService {
                namespace: namespace.into(),
                name: name.into(),
            });
        }
    }
}

fn cluster_log_since(path: &std::path::Path, offset: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    log.get(offset.min(log.len())..).unwrap_or_default().to_owned()
}

#[test]
#[ignore = "needs the lab: cargo xtask test"]
fn a_hostile_cluster_cannot_answer_or_see_internet_names() {
    let mut added = Added(Vec::new());
    let laptop = Laptop::start();
    let lab = laptop.lab.clone();
    added.add("com", "github", GITHUB_IP);

    // The cluster DNS really serves the hostile record (asked from a pod).
    let pod = &lab.nodes[0].pod_netns;
    let hostile = exec(
        pod,
        "dig",
        &[
            "+short",
            "+time=2",
            &format!("@{}", lab.cluster_dns),
            "github.com.svc.cluster.local",
        ],
    )
    .unwrap_or_else(|e| e);
    assert!(
        hostile.contains(&GITHUB_IP.to_string()),
        "the lab's cluster DNS serves github.com.svc.cluster.local: {hostile}"
    );
    let offset = std::fs::read_to_string(&lab.dns_query_log)
        .unwrap_or_default()
        .len();

    laptop.connect(&[]);
    assert!(
        wait_until(Duration::from_secs(15), || getent(&laptop, WEB).is_ok()),
        "{WEB} does not resolve after connect\n{}",
        laptop.daemon_log()
    );
    // A real namespace: <svc>.<ns> still resolves (the namespace list reached the resolver).
    assert!(
        wait_until(Duration::from_secs(10), || getent(&laptop, "web.default")
            .is_ok_and(|h| h.starts_with("10.43.0.80"))),
        "web.default does not resolve to the Service: {:?}\n{}",
        getent(&laptop, "web.default"),
        laptop.daemon_log()
    );

    // Internet names: never the cluster's answer.
    let github = getent(&laptop, "github.com");
    assert!(
        !github
            .as_deref()
            .unwrap_or_default()
            .contains(&GITHUB_IP.to_string()),
        "github.com resolved to the cluster's address: {github:?}"
    );
    let example = getent(&laptop, "example.test").unwrap_or_else(|e| e);
    assert!(
        example.starts_with("198.51.100.10"),
        "example.test comes from the ISP resolver: {example}"
    );
    let dig = laptop
        .exec("dig", &["+time=2", "+tries=1", "github.com", "A"])
        .unwrap_or_else(|e| e);
    assert!(!dig.contains("svc.cluster.local"), "{dig}");

    // A namespace created while connected is followed live.
    added.add("team-a", "api", TEAM_IP);
    assert!(
        wait_until(Duration::from_secs(10), || getent(&laptop, "api.team-a")
            .is_ok_and(|h| h.starts_with(&TEAM_IP.to_string()))),
        "api.team-a does not resolve after its namespace appeared: {:?}\n{}",
        getent(&laptop, "api.team-a"),
        laptop.daemon_log()
    );
    // ... and the hostile one still is not used.
    let github = getent(&laptop, "github.com");
    assert!(
        !github
            .as_deref()
            .unwrap_or_default()
            .contains(&GITHUB_IP.to_string()),
        "github.com resolved to the cluster's address: {github:?}"
    );

    let log = cluster_log_since(&lab.dns_query_log, offset);
    for leak in [
        "github.com.svc.cluster.local",
        "example.test.svc.cluster.local",
        "example.test.",
    ] {
        assert!(!log.contains(leak), "{leak} reached the cluster DNS:\n{log}");
    }
    assert!(
        log.contains("web.default.svc.cluster.local"),
        "the query log is the one the resolver uses:\n{log}"
    );
}
