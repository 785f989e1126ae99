//! What an off-path attacker or a hostile upstream sees of the resolver's own queries (issue 12,
//! item 11), on loopback (no root): every query leaves from its own source port (chosen at random by
//! the kernel), so a spoofed answer has to guess the port as well as the 16-bit id; and no answer is
//! kept, or handed to the OS, for longer than the resolver's TTL cap, whatever TTL the upstream (or
//! the cluster) sets.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kubewire_dns::{MAX_TTL, ResolverConfig, SplitResolver};
use tokio::net::UdpSocket;

/// A week: what a poisoning answer would ask for.
const HUGE_TTL: u32 = 604_800;

fn config(upstream: SocketAddr) -> ResolverConfig {
    ResolverConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        zone: "cluster.local".into(),
        cluster_dns: Some(upstream),
        reverse_ranges: vec!["10.42.0.0/16".parse().unwrap()],
        default_namespace: Some("default".into()),
        namespaces: Some(vec!["default".into()]),
        upstreams: vec![upstream],
        cache: true,
        cluster_timeout: Duration::from_millis(400),
        upstream_timeout: Duration::from_secs(1),
    }
}

/// A nameserver on loopback that answers every name with an A record, or NXDOMAIN for names
/// starting with `nx`, all with [`HUGE_TTL`]; it records the source port of every query.
async fn nameserver() -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let ports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ports);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            seen.lock().unwrap().push(from.port());
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut reply = Message::response(query.metadata.id, OpCode::Query);
            reply.add_queries(query.queries.clone());
            let name = query.queries[0].name().clone();
            if name.to_ascii().starts_with("nx") {
                reply.metadata.response_code = ResponseCode::NXDomain;
                let soa = SOA::new(
                    Name::from_ascii("ns.example.com.").unwrap(),
                    Name::from_ascii("hostmaster.example.com.").unwrap(),
                    1,
                    7200,
                    1800,
                    HUGE_TTL as i32,
                    HUGE_TTL,
                );
                reply.add_authority(Record::from_rdata(
                    Name::from_ascii("example.com.").unwrap(),
                    HUGE_TTL,
                    RData::SOA(soa),
                ));
            } else {
                reply.add_answer(Record::from_rdata(
                    name,
                    HUGE_TTL,
                    RData::A(A::new(198, 51, 100, 7)),
                ));
            }
            let _ = udp.send_to(&reply.to_vec().unwrap(), from).await;
        }
    });
    (addr, ports)
}

async fn ask(server: SocketAddr, name: &str) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut msg = Message::new(4242, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    socket.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buf))
        .await
        .expect("an answer within 3 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test]
async fn every_query_to_an_upstream_leaves_from_its_own_random_source_port() {
    let (upstream, ports) = nameserver().await;
    let resolver = SplitResolver::start(config(upstream)).await.unwrap();
    let addr = resolver.local_addr();
    const QUERIES: usize = 64;
    for i in 0..QUERIES {
        // Internet names (the upstream group) and cluster names (the cluster group), none cached.
        let name = if i % 2 == 0 {
            format!("www{i}.example.com.")
        } else {
            format!("web{i}.default.svc.cluster.local.")
        };
        let reply = ask(addr, &name).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError, "{name}");
    }
    let ports = ports.lock().unwrap().clone();
    assert_eq!(ports.len(), QUERIES, "one upstream query per name");
    let distinct: BTreeSet<u16> = ports.iter().copied().collect();
    // Random ports from the kernel's ephemeral range (about 28,000): a repeat or two is chance,
    // a pool of fixed sockets shows as a handful of ports.
    assert!(
        distinct.len() >= QUERIES - 8,
        "{} distinct source ports for {QUERIES} queries: {ports:?}",
        distinct.len()
    );
    resolver.stop().await.unwrap();
}

#[tokio::test]
async fn no_answer_is_kept_or_handed_out_longer_than_the_ttl_cap() {
    const { assert!(MAX_TTL <= 3600, "the cap is short") };
    let (upstream, _) = nameserver().await;
    let resolver = SplitResolver::start(config(upstream)).await.unwrap();
    let addr = resolver.local_addr();
    for name in [
        "www.example.com.",
        "web.default.svc.cluster.local.",
        "web.default.",
        "nx.example.com.",
    ] {
        // Asked twice: from the upstream, then from the cache.
        for round in ["fresh", "cached"] {
            let reply = ask(addr, name).await;
            let records: Vec<&Record> = reply.answers.iter().chain(reply.authorities.iter()).collect();
            assert!(!records.is_empty(), "{name} ({round}): {reply:?}");
            for r in records {
                assert!(
                    r.ttl <= MAX_TTL,
                    "{name} ({round}): TTL {} above the cap {MAX_TTL}: {r}",
                    r.ttl
                );
            }
        }
    }
    resolver.stop().await.unwrap();
}
