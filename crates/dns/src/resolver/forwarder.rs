//! One upstream group (the cluster DNS, or the original nameservers): every query (and every retry)
//! leaves from its own connected UDP socket, so from its own source port, picked at random by the
//! kernel, with an unpredictable id: an off-path spoofer has to guess both (RFC 5452). At most
//! [`MAX_IN_FLIGHT`] sockets are open per group (a flood of queries cannot take the daemon's
//! descriptors). A retry inside a hard deadline, TCP when the answer is truncated, and no TTL above
//! [`crate::MAX_TTL`]. No cache here (the engine caches finished answers).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::DnsError as Error;
use crate::MAX_TTL;

/// Upstream queries in flight per group (each holds one socket); more wait for a slot, within
/// their deadline.
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// EDNS payload size we ask with.
const EDNS_PAYLOAD: u16 = 1232;
/// Receive buffer: the largest UDP answer we accept.
const MAX_UDP: usize = 4096;

/// An upstream's answer: the response code and the records to return.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub code: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

impl Outcome {
    pub fn code(code: ResponseCode) -> Self {
        Self {
            code,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }

    /// How long the answer may be kept: its shortest TTL; 0 for anything but NOERROR/NXDOMAIN.
    pub fn cache_ttl(&self) -> u32 {
        if !matches!(self.code, ResponseCode::NoError | ResponseCode::NXDomain) {
            return 0;
        }
        self.answers
            .iter()
            .chain(self.authorities.iter())
            .map(|r| r.ttl)
            .min()
            .unwrap_or(0)
            .min(MAX_TTL)
    }
}

/// Why an upstream gave no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer before the deadline.
    Timeout,
    /// Unreachable (no route, refused), a malformed answer, ...
    Other(String),
}

pub(crate) struct Forwarder {
    servers: Vec<SocketAddr>,
    deadline: Duration,
    /// One permit per open socket.
    slots: Semaphore,
    /// Query ids: a keyed hash (SipHash, random key) of a counter, not guessable from earlier ids.
    id_key: RandomState,
    counter: AtomicU64,
}

fn unspecified(server: &SocketAddr) -> SocketAddr {
    let ip = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// Sends `query` to `server` from a fresh socket (a new random source port) and waits up to `wait`
/// for the answer with the same id from that server; other datagrams are dropped.
async fn exchange(server: SocketAddr, query: &[u8], wait: Duration) -> Result<Vec<u8>, Failure> {
    let socket = UdpSocket::bind(unspecified(&server))
        .await
        .map_err(|e| Failure::Other(format!("bind: {e}")))?;
    // Fails at once without a route (tunnel down).
    socket
        .connect(server)
        .await
        .map_err(|e| Failure::Other(format!("connect {server}: {e}")))?;
    socket
        .send(query)
        .await
        .map_err(|e| Failure::Other(format!("send: {e}")))?;
    let id = [query[0], query[1]];
    let mut buf = vec![0u8; MAX_UDP];
    let receive = async {
        loop {
            // An error is an ICMP report (refused, unreachable): this try fails at once.
            let len = socket
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::Other(format!("receive: {e}")))?;
            if len >= 12 && buf[..2] == id && buf[2] & 0x80 != 0 {
                return Ok(buf[..len].to_vec());
            }
        }
    };
    tokio::time::timeout(wait, receive)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

impl Forwarder {
    pub fn new(servers: &[SocketAddr], deadline: Duration) -> Result<Self, Error> {
        if servers.is_empty() {
            return Err(Error::Config("a forwarder needs a server".into()));
        }
        let id_key = RandomState::new();
        Ok(Self {
            servers: servers.to_vec(),
            deadline,
            slots: Semaphore::new(MAX_IN_FLIGHT),
            counter: AtomicU64::new(id_key.hash_one(Instant::now())),
            id_key,
        })
    }

    fn next_id(&self) -> u16 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (self.id_key.hash_one(n) >> 48) as u16
    }

    /// Ask for `name` (made fully qualified) and `rtype`.
    pub async fn lookup(&self, name: &Name, rtype: RecordType) -> Result<Outcome, Failure> {
        let started = Instant::now();
        let mut name = name.clone();
        name.set_fqdn(true);
        let query = Query::query(name, rtype);
        let mut message = Message::new(0, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        let mut bytes = message
            .to_vec()
            .map_err(|e| Failure::Other(format!("encode: {e}")))?;
        let _slot = match tokio::time::timeout(self.deadline, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Failure::Other("forwarder closed".into())),
            Err(_) => return Err(Failure::Timeout),
        };
        // Two tries inside the deadline (or one per server): one lost packet is not a SERVFAIL.
        let attempts = self.servers.len().max(2);
        let mut failure = Failure::Timeout;
        for attempt in 0..attempts {
            let left = self.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let wait = if attempt + 1 == attempts {
                left
            } else {
                (self.deadline / u32::try_from(attempts).unwrap_or(2)).min(left)
            };
            let server = self.servers[attempt % self.servers.len()];
            bytes[..2].copy_from_slice(&self.next_id().to_be_bytes());
            let reply = match exchange(server, &bytes, wait).await {
                Ok(reply) => reply,
                Err(e) => {
                    failure = e;
                    continue;
                }
            };
            let reply = match Message::from_vec(&reply) {
                Ok(m) if m.metadata.truncation => {
                    let left = self.deadline.saturating_sub(started.elapsed());
                    match tokio::time::timeout(left, over_tcp(server, &bytes)).await {
                        Ok(Ok(m)) => m,
                        Ok(Err(e)) => return Err(Failure::Other(format!("tcp: {e}"))),
                        Err(_) => return Err(Failure::Timeout),
                    }
                }
                Ok(m) => m,
                Err(e) => {
                    failure = Failure::Other(format!("decode: {e}"));
                    continue;
                }
            };
            return outcome(reply, &query);
        }
        Err(failure)
    }
}

async fn over_tcp(server: SocketAddr, query: &[u8]) -> Result<Message, String> {
    let mut stream = TcpStream::connect(server).await.map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let len = stream.read_u16().await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let message = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if message.metadata.id != u16::from_be_bytes([query[0], query[1]]) {
        return Err("answer to another query".into());
    }
    Ok(message)
}

/// The records of an answer to `query`. Negative answers keep the SOA, with the TTL negative caching
/// uses (RFC 2308: the smaller of its TTL and its MINIMUM). No TTL above [`MAX_TTL`].
pub(crate) fn outcome(reply: Message, query: &Query) -> Result<Outcome, Failure> {
    let asked = reply.queries.first().is_some_and(|q| {
        q.name() == query.name()
            && q.query_type() == query.query_type()
            && q.query_class() == query.query_class()
    });
    if reply.metadata.message_type != MessageType::Response || !asked {
        return Err(Failure::Other("answer to another question".into()));
    }
    let code = reply.metadata.response_code;
    let mut answers = reply.answers;
    for r in &mut answers {
        r.ttl = r.ttl.min(MAX_TTL);
    }
    let authorities = if answers.is_empty() {
        reply
            .authorities
            .into_iter()
            .filter_map(|mut r| {
                let RData::SOA(soa) = &r.data else {
                    return None;
                };
                r.ttl = r.ttl.min(soa.minimum).min(MAX_TTL);
                Some(r)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Outcome {
        code,
        answers,
        authorities,
    })
}
