//! The container listener on loopback (no root): `127.77.0.1` stands in for a bridge's gateway and
//! `127.77.0.0/16` for its subnet. A query from inside the subnet is answered by the same engine as
//! the laptop's; a query from outside it (UDP or TCP) gets nothing; after `stop` nothing listens.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use kubewire_dns::{ResolverConfig, SplitResolver};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

fn config() -> ResolverConfig {
    ResolverConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        zone: "cluster.local".into(),
        cluster_dns: None,
        reverse_ranges: vec![],
        default_namespace: Some("default".into()),
        namespaces: None,
        upstreams: vec![],
        cache: true,
        cluster_timeout: Duration::from_millis(300),
        upstream_timeout: Duration::from_secs(1),
    }
}

fn query() -> Vec<u8> {
    let mut msg = Message::new(4343, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii("www.example.com.").unwrap(),
        RecordType::A,
    ));
    msg.to_vec().unwrap()
}

/// The answer's code from `from`, or None when nothing came within 1 s.
async fn ask_from(from: &str, server: SocketAddr) -> Option<ResponseCode> {
    let socket = UdpSocket::bind(from).await.unwrap();
    socket.send_to(&query(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Message::from_vec(&buf[..n]).unwrap().metadata.response_code)
}

#[tokio::test]
async fn a_bridge_listener_answers_its_subnet_and_drops_everyone_else() {
    let resolver = SplitResolver::start(config()).await.unwrap();
    let bridge = resolver
        .listen_bridge("127.77.0.1:0".parse().unwrap(), "127.77.0.0/16".parse().unwrap())
        .await
        .unwrap();
    let addr = bridge.local_addr();
    // Split mode (no upstreams): an internet name is REFUSED, as for the laptop: an answer.
    assert_eq!(ask_from("127.77.0.2:0", addr).await, Some(ResponseCode::Refused));
    assert_eq!(
        ask_from("127.0.0.1:0", addr).await,
        None,
        "a source outside the subnet got an answer"
    );
    assert_eq!(
        ask_from("127.78.0.2:0", addr).await,
        None,
        "a source outside the subnet got an answer"
    );

    // TCP from outside: closed before anything is read or answered.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut stream: TcpStream = socket.connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    bridge.stop().await;
    assert_eq!(
        ask_from("127.77.0.2:0", addr).await,
        None,
        "still answering after stop"
    );
    assert!(
        UdpSocket::bind(addr).await.is_ok(),
        "the port is free again after stop"
    );
    resolver.stop().await.unwrap();
}

#[tokio::test]
async fn a_listener_outside_its_subnet_is_refused() {
    let resolver = SplitResolver::start(config()).await.unwrap();
    let err = resolver
        .listen_bridge("127.0.0.1:0".parse().unwrap(), "127.77.0.0/16".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("subnet"), "{err}");
    assert!(
        resolver
            .listen_bridge("0.0.0.0:0".parse().unwrap(), "0.0.0.0/0".parse().unwrap())
            .await
            .is_err()
    );
    resolver.stop().await.unwrap();
}
