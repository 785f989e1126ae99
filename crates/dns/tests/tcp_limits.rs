//! The resolver's TCP listener has limits (loopback only, no root): a flood of connections is
//! capped (the rest are closed at once, so nobody can hold the daemon's descriptors), an idle
//! connection and a half-sent query are dropped, and queries are still answered.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use kubewire_dns::{ResolverConfig, SplitResolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config() -> ResolverConfig {
    ResolverConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
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

/// One query over TCP on `conn`; the answer's id.
async fn ask_tcp(conn: &mut TcpStream, id: u16) -> u16 {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let bytes = msg.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    conn.write_all(&framed).await.unwrap();
    let len = tokio::time::timeout(Duration::from_secs(3), conn.read_u16())
        .await
        .expect("an answer within 3 s")
        .unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    conn.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap().metadata.id
}

/// Whether the server closed `conn` (EOF or reset) within `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, conn.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_capped_and_queries_are_still_answered() {
    let resolver = SplitResolver::start(config()).await.unwrap();
    let addr: SocketAddr = resolver.local_addr();
    let mut conns = Vec::new();
    for _ in 0..200 {
        conns.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut closed = 0;
    for c in &mut conns {
        if closed_within(c, Duration::from_millis(20)).await {
            closed += 1;
        }
    }
    println!("MEASURE TCP flood: 200 idle connections, {closed} closed at once by the resolver");
    assert!(
        closed >= 160,
        "only {closed} of 200 idle connections were refused: no cap"
    );
    // The held ones go after the idle timeout; then a new connection is served.
    drop(conns);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask_tcp(&mut conn, 77).await, 77);
    assert_eq!(
        ask_tcp(&mut conn, 78).await,
        78,
        "a second query on the same connection"
    );
    resolver.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_and_a_half_sent_query_are_dropped() {
    let resolver = SplitResolver::start(config()).await.unwrap();
    let addr = resolver.local_addr();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    // A length of 64 bytes, then 5 of them.
    half.write_all(&[0, 64, 1, 2, 3, 4, 5]).await.unwrap();
    let t = Instant::now();
    assert!(
        closed_within(&mut half, Duration::from_secs(6)).await,
        "a half-sent query is held"
    );
    let half_after = t.elapsed();
    assert!(
        closed_within(&mut idle, Duration::from_secs(8)).await,
        "an idle connection is held"
    );
    let idle_after = t.elapsed();
    println!(
        "MEASURE half-sent query closed after {} ms, idle connection after {} ms",
        half_after.as_millis(),
        idle_after.as_millis()
    );
    assert!(half_after < Duration::from_secs(5), "{half_after:?}");
    resolver.stop().await.unwrap();
}
