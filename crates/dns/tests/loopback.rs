//! The resolver on loopback only (no root, no namespaces): listen rules, split-mode answers without
//! upstreams, SERVFAIL at once when the cluster DNS is unreachable, and `update`.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use kubewire_dns::{ResolverConfig, SplitResolver};
use tokio::net::UdpSocket;

fn config(listen: &str) -> ResolverConfig {
    ResolverConfig {
        listen: listen.parse().unwrap(),
        zone: "cluster.local".into(),
        cluster_dns: None,
        reverse_ranges: vec!["10.42.0.0/16".parse().unwrap()],
        default_namespace: Some("default".into()),
        namespaces: None,
        upstreams: vec![],
        cache: true,
        cluster_timeout: Duration::from_millis(400),
        upstream_timeout: Duration::from_secs(1),
    }
}

/// One UDP query; the response code and how long it took.
async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> (ResponseCode, Duration) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut msg = Message::new(4242, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let start = Instant::now();
    socket.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buf))
        .await
        .expect("an answer within 3 s")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, 4242);
    (reply.metadata.response_code, start.elapsed())
}

#[tokio::test]
async fn wildcard_listen_addresses_are_refused() {
    assert!(SplitResolver::start(config("0.0.0.0:0")).await.is_err());
    assert!(SplitResolver::start(config("[::]:0")).await.is_err());
}

#[tokio::test]
async fn split_mode_refuses_other_names_and_fails_fast_without_a_cluster() {
    let mut resolver = SplitResolver::start(config("127.0.0.1:0")).await.unwrap();
    let addr = resolver.local_addr();
    assert_ne!(addr.port(), 0);
    let (code, _) = ask(addr, "www.example.com.", RecordType::A).await;
    assert_eq!(code, ResponseCode::Refused);
    let (code, took) = ask(addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(code, ResponseCode::ServFail);
    assert!(took < Duration::from_millis(100), "{took:?}");
    let (code, _) = ask(
        addr,
        "x.default.svc.cluster.local.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        code,
        ResponseCode::NXDomain,
        "an impossible Service name is answered here"
    );

    // A cluster DNS that does not answer (a closed port): SERVFAIL within the cluster timeout.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut next = config("127.0.0.1:0");
    next.listen = addr;
    next.cluster_dns = Some(closed);
    resolver.update(next.clone()).unwrap();
    assert_eq!(resolver.config().cluster_dns, Some(closed));
    for name in ["web.default.svc.cluster.local.", "10.0.42.10.in-addr.arpa."] {
        let (code, took) = ask(addr, name, RecordType::A).await;
        assert_eq!(code, ResponseCode::ServFail, "{name}");
        assert!(took < Duration::from_millis(600), "{name}: {took:?}");
    }
    // The listen address cannot change while running.
    let mut moved = next;
    moved.listen = "127.0.0.1:1".parse().unwrap();
    assert!(resolver.update(moved).is_err());
    resolver.stop().await.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(b"\x00", addr).await.unwrap();
    // The port is free again once stopped.
    assert!(UdpSocket::bind(addr).await.is_ok());
}
