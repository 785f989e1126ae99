//! The resolver's packet path without sockets, for the `dns_packet` fuzz target
//! (`fuzz/fuzz_targets/dns_packet.rs`). Any bytes go through what a datagram from a local client
//! goes through (the fast-path parser, the cache key, the routing rule, the composed answer, the
//! packet cache, the answer made for another asker of the same question, the fit to the client's
//! UDP size) and what an answer from an upstream or the cluster goes through (the checks on it,
//! the TTL cap, the cache). Besides "never panics", the invariants a user relies on are asserted:
//! internet names never go to the cluster, no TTL above [`MAX_TTL`] leaves the resolver, what goes
//! back to the client parses and carries its id and question, and fits its UDP size.

use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use kubewire_core::dns_names::is_public_name;

use super::engine::{EDNS_PAYLOAD, compose, with_cname};
use super::forwarder::{Outcome, outcome};
use super::packets::Packets;
use super::udp::refusal;
use super::wire;
use crate::MAX_TTL;
use crate::route::{Route, Router};

/// Runs both paths over `data`.
pub fn packet(data: &[u8]) {
    client_datagram(data);
    upstream_answer(data);
}

/// The router of a cluster that made hostile namespaces (`com`, `dev`) next to real ones.
fn router() -> Option<Router> {
    let name = |s: &str| Name::from_ascii(s).ok();
    Some(
        Router::new(
            name("cluster.local.")?,
            vec![name("42.10.in-addr.arpa.")?, name("43.10.in-addr.arpa.")?],
            Some("default".into()),
        )
        .with_namespaces(Some(
            ["default", "kube-system", "team-a", "com", "dev"]
                .map(String::from)
                .to_vec(),
        )),
    )
}

/// The routing rule's promise for `name`.
fn check_route(router: &Router, name: &Name, route: &Route) {
    let lower = name.to_lowercase();
    let in_cluster_zone = router.cluster_zones().any(|z| z.zone_of(&lower));
    match route {
        Route::Cluster => assert!(in_cluster_zone, "{name} sent to the cluster unchanged"),
        Route::ShortName { expanded } => {
            assert!(!in_cluster_zone, "{name} is already a cluster name");
            assert!(
                !is_public_name(&lower.to_ascii()),
                "the internet name {name} is asked of the cluster as {expanded}"
            );
            assert!(router.zone().zone_of(expanded), "{expanded} outside the zone");
        }
        Route::Upstream | Route::NxDomain => {}
    }
}

/// A datagram from a local client, as `udp::serve` handles it.
fn client_datagram(query: &[u8]) {
    let Some(q) = wire::Query::parse(query) else {
        if let Some(reply) = refusal(query) {
            assert!(Message::from_vec(&reply).is_ok(), "the refusal parses");
        }
        return;
    };
    assert!(q.question_end <= query.len() && q.max_udp >= wire::PLAIN_UDP);
    let key = q.key(query);
    // `Engine::answer_packet`: no answer to what hickory cannot read.
    let Ok(request) = Message::from_vec(query) else {
        return;
    };
    let Some(question) = request.queries.first() else {
        return;
    };
    let Some(router) = router() else {
        return;
    };
    let name = question.name().clone();
    let route = router.route(&name);
    check_route(&router, &name, &route);
    let found = |owner: &Name| Outcome {
        code: ResponseCode::NoError,
        answers: vec![Record::from_rdata(
            owner.clone(),
            30,
            RData::A(A::new(10, 43, 0, 80)),
        )],
        authorities: Vec::new(),
    };
    let answer = match &route {
        Route::ShortName { expanded } => with_cname(&name, expanded, found(expanded)),
        Route::Cluster | Route::Upstream => found(&name),
        Route::NxDomain => Outcome::code(ResponseCode::NXDomain),
    };
    let Some((bytes, ttl)) = compose(&request, answer, q.edns) else {
        return;
    };
    let packets = Packets::new();
    let now = Instant::now();
    packets.put(key.clone(), bytes.clone(), ttl, now);
    // The same question from another client, in another case: the cached answer made its answer.
    let mut other = query.to_vec();
    let name_end = q.question_end - 4;
    for b in &mut other[wire::HEADER..name_end] {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    other[0] ^= 0xff;
    let mut sent = vec![(query.to_vec(), q.clone(), bytes)];
    if let Some(parsed) = wire::Query::parse(&other) {
        assert_eq!(parsed.key(&other), key, "the same question in another case");
        if let Some(mut cached) = packets.get(&key, now + Duration::from_secs(1)) {
            wire::answer_to(&mut cached, &other, &parsed);
            sent.push((other, parsed, cached));
        }
    }
    for (asked, q, reply) in sent {
        let reply = wire::fit(reply, &q, EDNS_PAYLOAD);
        assert!(
            reply.len() <= q.max_udp,
            "{} bytes for {}",
            reply.len(),
            q.max_udp
        );
        let Ok(got) = Message::from_vec(&reply) else {
            panic!("the answer sent does not parse: {reply:?}");
        };
        assert_eq!(got.metadata.message_type, MessageType::Response);
        assert_eq!(got.metadata.op_code, OpCode::Query);
        assert_eq!(&reply[..2], &asked[..2], "the answer carries the query's id");
        assert_eq!(
            &reply[wire::HEADER..q.question_end],
            &asked[wire::HEADER..q.question_end],
            "the answer carries the question as asked"
        );
    }
}

/// An answer from an upstream or the cluster, as `Forwarder::lookup` takes it (to the question it
/// names) and the engine caches it.
fn upstream_answer(data: &[u8]) {
    let _ = wire::ttl_fields(data);
    let Ok(reply) = Message::from_vec(data) else {
        return;
    };
    let Some(asked) = reply.queries.first().cloned() else {
        return;
    };
    let id = reply.metadata.id;
    let Ok(got) = outcome(reply, &asked) else {
        return;
    };
    for r in got.answers.iter().chain(got.authorities.iter()) {
        assert!(r.ttl <= MAX_TTL, "TTL {} kept from an upstream: {r}", r.ttl);
    }
    assert!(got.cache_ttl() <= MAX_TTL);
    let mut request = Message::new(id, MessageType::Query, OpCode::Query);
    request.add_query(asked);
    let Some((bytes, ttl)) = compose(&request, got, true) else {
        return;
    };
    assert!(ttl <= MAX_TTL);
    let packets = Packets::new();
    let now = Instant::now();
    packets.put(b"k".to_vec(), bytes, ttl, now);
    if let Some(cached) = packets.get(b"k", now) {
        for (_, ttl) in wire::ttl_fields(&cached).unwrap_or_default() {
            assert!(ttl <= MAX_TTL, "a cached TTL of {ttl}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every committed seed goes through without a finding (what `cargo xtask fuzz` starts from).
    #[test]
    fn the_seeds_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/dns_packet");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            packet(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 5, "{n} seeds in {}", dir.display());
    }
}
