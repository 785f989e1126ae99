//! The cluster-domain probe against a real DNS server (dnsmasq on loopback, no root needed) standing
//! in for CoreDNS: a reverse answer names a domain other than `cluster.local` and is confirmed
//! forward; a reverse answer that names an internet domain, or that the forward query does not
//! confirm, is not believed; without a reverse answer `cluster.local` is tried by name; a silent
//! server is a clear failure within the deadline.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubewire_dns::domain_probe::{Deadlines, DnsService, Found, probe};

const KUBE_DNS: &str = "10.43.0.10";

/// A dnsmasq on 127.0.0.1 with `records` (its own flags), killed (by PID) when dropped.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dnsmasq(records: &[String]) -> Option<Dnsmasq> {
    if Command::new("dnsmasq").arg("--version").output().is_err() {
        assert!(
            std::env::var("KUBEWIRE_TESTS_STRICT").as_deref() != Ok("1"),
            "dnsmasq is missing and KUBEWIRE_TESTS_STRICT=1 is set"
        );
        eprintln!("skipped: no dnsmasq");
        return None;
    }
    let port = free_port();
    let child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            &format!("--port={port}"),
        ])
        .args(records)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Up when it answers a TCP connect.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not start on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Dnsmasq { child, addr })
}

fn kube_dns() -> DnsService {
    DnsService {
        name: "kube-dns".into(),
        namespace: "kube-system".into(),
        address: KUBE_DNS.parse::<IpAddr>().unwrap(),
    }
}

fn quick() -> Deadlines {
    Deadlines {
        first: Duration::from_millis(800),
        each: Duration::from_millis(800),
    }
}

#[tokio::test]
async fn a_reverse_answer_confirmed_forward_names_the_domain() {
    // --host-record gives both the A record and the PTR record, as CoreDNS does.
    let Some(server) = dnsmasq(&[format!(
        "--host-record=kube-dns.kube-system.svc.corp.internal,{KUBE_DNS}"
    )]) else {
        return;
    };
    let found = probe(server.addr, &kube_dns(), quick()).await;
    assert_eq!(found, Ok(("corp.internal".to_owned(), Found::Reverse)));
}

#[tokio::test]
async fn an_internet_domain_or_an_unconfirmed_reverse_answer_is_not_believed() {
    // The cluster's DNS claims github.com is the cluster domain (and answers for it forward too).
    let Some(server) = dnsmasq(&[format!(
        "--host-record=kube-dns.kube-system.svc.github.com,{KUBE_DNS}"
    )]) else {
        return;
    };
    let err = probe(server.addr, &kube_dns(), quick()).await.unwrap_err();
    assert!(err.0.contains("no usable cluster domain"), "{err}");
    drop(server);
    // A reverse answer whose name does not resolve back to the address.
    let Some(server) =
        dnsmasq(&["--ptr-record=10.0.43.10.in-addr.arpa,kube-dns.kube-system.svc.corp.internal".to_owned()])
    else {
        return;
    };
    let err = probe(server.addr, &kube_dns(), quick()).await.unwrap_err();
    assert!(err.0.contains("does not resolve to 10.43.0.10"), "{err}");
}

#[tokio::test]
async fn without_a_reverse_answer_cluster_local_is_tried_by_name() {
    // --address answers forward only (no PTR).
    let Some(server) = dnsmasq(&[format!(
        "--address=/kube-dns.kube-system.svc.cluster.local/{KUBE_DNS}"
    )]) else {
        return;
    };
    let found = probe(server.addr, &kube_dns(), quick()).await;
    assert_eq!(found, Ok(("cluster.local".to_owned(), Found::Candidate)));
}

#[tokio::test]
async fn a_silent_server_fails_within_the_deadline_and_says_so() {
    // A bound UDP socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let err = probe(silent.local_addr().unwrap(), &kube_dns(), quick())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.0.contains("did not answer"), "{err}");
}
