//! One upstream group (the cluster DNS, or the original nameservers): a small pool of connected UDP
//! sockets per server with a map of pending query ids, a retry inside a hard deadline, TCP when the
//! answer is truncated. No socket per query and no cache here (the engine caches finished answers).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{OnceCell, oneshot};
use tokio::task::AbortHandle;

use crate::DnsError as Error;

/// Connected UDP sockets per server (65536 query ids each).
const SOCKETS_PER_SERVER: usize = 4;
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

type Pending = Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>;

/// One connected socket and the queries waiting for an answer on it.
struct Channel {
    socket: UdpSocket,
    pending: Pending,
}

struct Pool {
    /// `SOCKETS_PER_SERVER` channels per server, in server order.
    channels: Vec<Arc<Channel>>,
    receivers: Vec<AbortHandle>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for r in &self.receivers {
            r.abort();
        }
    }
}

pub(crate) struct Forwarder {
    servers: Vec<SocketAddr>,
    deadline: Duration,
    pool: OnceCell<Pool>,
    next: AtomicUsize,
    ids: AtomicU64,
}

/// Takes the query id out of the pending map when the lookup ends, however it ends.
struct Registered<'a> {
    channel: &'a Channel,
    id: u16,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.channel.pending.lock() {
            pending.remove(&self.id);
        }
    }
}

async fn receive(channel: Arc<Channel>) {
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        // Errors are ICMP reports for an earlier send (refused, unreachable): the lookup times out.
        let Ok(len) = channel.socket.recv(&mut buf).await else {
            continue;
        };
        if len < 12 || buf[2] & 0x80 == 0 {
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let waiter = channel.pending.lock().ok().and_then(|mut p| p.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(buf[..len].to_vec());
        }
    }
}

fn unspecified(server: &SocketAddr) -> SocketAddr {
    let ip = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

impl Forwarder {
    pub fn new(servers: &[SocketAddr], deadline: Duration) -> Result<Self, Error> {
        if servers.is_empty() {
            return Err(Error::Config("a forwarder needs a server".into()));
        }
        Ok(Self {
            servers: servers.to_vec(),
            deadline,
            pool: OnceCell::new(),
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(RandomState::new().hash_one(Instant::now()) | 1),
        })
    }

    /// The sockets, opened at the first query (inside the runtime).
    async fn pool(&self) -> Result<&Pool, Failure> {
        self.pool
            .get_or_try_init(|| async {
                let mut pool = Pool {
                    channels: Vec::new(),
                    receivers: Vec::new(),
                };
                for server in &self.servers {
                    for _ in 0..SOCKETS_PER_SERVER {
                        let socket = UdpSocket::bind(unspecified(server))
                            .await
                            .map_err(|e| Failure::Other(format!("bind: {e}")))?;
                        // Fails at once without a route (tunnel down): the pool is opened again at
                        // the next query. A route that goes later fails the sends instead.
                        socket
                            .connect(server)
                            .await
                            .map_err(|e| Failure::Other(format!("connect {server}: {e}")))?;
                        let channel = Arc::new(Channel {
                            socket,
                            pending: Mutex::new(HashMap::new()),
                        });
                        pool.receivers
                            .push(tokio::spawn(receive(Arc::clone(&channel))).abort_handle());
                        pool.channels.push(channel);
                    }
                }
                Ok(pool)
            })
            .await
    }

    /// A query id nobody on `channel` waits for (xorshift; ids are not guessable from outside).
    fn register<'a>(
        &self,
        channel: &'a Channel,
    ) -> Result<(Registered<'a>, oneshot::Receiver<Vec<u8>>), Failure> {
        let (tx, rx) = oneshot::channel();
        let mut pending = channel
            .pending
            .lock()
            .map_err(|_| Failure::Other("pending map poisoned".into()))?;
        if pending.len() >= 60_000 {
            return Err(Failure::Other("too many queries in flight".into()));
        }
        loop {
            let mut x = self.ids.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.ids.store(x, Ordering::Relaxed);
            let id = (x >> 24) as u16;
            if let std::collections::hash_map::Entry::Vacant(slot) = pending.entry(id) {
                slot.insert(tx);
                return Ok((Registered { channel, id }, rx));
            }
        }
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
        let pool = self.pool().await?;
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
            let server_index = attempt % self.servers.len();
            let spin = self.next.fetch_add(1, Ordering::Relaxed) % SOCKETS_PER_SERVER;
            let Some(channel) = pool.channels.get(server_index * SOCKETS_PER_SERVER + spin) else {
                return Err(Failure::Other("no socket".into()));
            };
            let (registered, rx) = self.register(channel)?;
            bytes[..2].copy_from_slice(&registered.id.to_be_bytes());
            if let Err(e) = channel.socket.send(&bytes).await {
                failure = Failure::Other(format!("send: {e}"));
                continue;
            }
            let reply = match tokio::time::timeout(wait, rx).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => {
                    failure = Failure::Other("receiver ended".into());
                    continue;
                }
                Err(_) => {
                    failure = Failure::Timeout;
                    continue;
                }
            };
            drop(registered);
            let reply = match Message::from_vec(&reply) {
                Ok(m) if m.metadata.truncation => {
                    let server = self.servers[server_index];
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
/// uses (RFC 2308: the smaller of its TTL and its MINIMUM).
fn outcome(reply: Message, query: &Query) -> Result<Outcome, Failure> {
    let asked = reply.queries.first().is_some_and(|q| {
        q.name() == query.name()
            && q.query_type() == query.query_type()
            && q.query_class() == query.query_class()
    });
    if reply.metadata.message_type != MessageType::Response || !asked {
        return Err(Failure::Other("answer to another question".into()));
    }
    let code = reply.metadata.response_code;
    let authorities = if reply.answers.is_empty() {
        reply
            .authorities
            .into_iter()
            .filter_map(|mut r| {
                let RData::SOA(soa) = &r.data else {
                    return None;
                };
                r.ttl = r.ttl.min(soa.minimum);
                Some(r)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Outcome {
        code,
        answers: reply.answers,
        authorities,
    })
}
