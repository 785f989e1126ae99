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

/// A cluster DNS on loopback whose UDP answers are all truncated and whose TCP answers carry
/// `count` A records for any name.
async fn truncating_upstream(count: u8) -> SocketAddr {
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let answer = move |query: &[u8], truncated: bool| {
        let query = Message::from_vec(query).unwrap();
        let mut reply = Message::response(query.metadata.id, OpCode::Query);
        reply.metadata.truncation = truncated;
        reply.add_queries(query.queries.clone());
        if !truncated {
            let name = query.queries[0].name().clone();
            for i in 0..count {
                reply.add_answer(Record::from_rdata(
                    name.clone(),
                    30,
                    RData::A(A::new(10, 42, 0, i)),
                ));
            }
        }
        reply.to_vec().unwrap()
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&answer(&buf[..n], true), from).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let len = conn.read_u16().await.unwrap();
                let mut buf = vec![0u8; usize::from(len)];
                conn.read_exact(&mut buf).await.unwrap();
                let reply = answer(&buf, false);
                let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                conn.write_all(&framed).await.unwrap();
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_truncated_upstream_answer_is_fetched_over_tcp_and_truncated_again_for_a_small_client() {
    let mut cfg = config("127.0.0.1:0");
    cfg.cluster_dns = Some(truncating_upstream(60).await);
    let resolver = SplitResolver::start(cfg).await.unwrap();
    let addr = resolver.local_addr();
    let name = "big.default.svc.cluster.local.";
    // A plain (512-byte) UDP client: 60 A records do not fit, so TC and the question only.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for round in 0..2 {
        let mut msg = Message::new(7, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        socket.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert!(reply.metadata.truncation, "round {round}: TC set");
        assert!(reply.answers.is_empty());
        assert_eq!(reply.queries[0].name().to_ascii(), name);
    }
    // Over TCP the client gets all 60 (the resolver fetched them from the upstream over TCP).
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut msg = Message::new(8, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let bytes = msg.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(&framed).await.unwrap();
    let len = conn.read_u16().await.unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    conn.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 60);
    resolver.stop().await.unwrap();
}
