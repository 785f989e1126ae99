//! The TCP side of the resolver, served by our own loop with limits, so that nothing reaching the
//! tunnel address (a pod, the LAN) can hold the root daemon's descriptors:
//!
//! - a connection from any source but the laptop (loopback, the listen address), or on a container
//!   bridge's listener from outside the bridge's subnet, is closed at once,
//!   before a byte is read;
//! - at most [`MAX_CONNECTIONS`] connections at once; past that a new one is closed at once;
//! - a connection must start its next query within [`IDLE`] and send it whole within [`QUERY`];
//!   each answer must be written within [`QUERY`];
//! - a failed `accept` (out of descriptors) waits a growing while, logged once per 10 s.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Name;

use super::engine::{EDNS_PAYLOAD, Engine};
use super::source::Allowed;

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 32;
/// How long a connection may wait before its next query starts.
pub(crate) const IDLE: Duration = Duration::from_secs(5);
/// How long one query may take to arrive whole once it started (and one answer to be written).
pub(crate) const QUERY: Duration = Duration::from_secs(3);

/// Back-off after failed accepts: 10 ms doubling to 1 s; a log line at most every 10 s.
struct Backoff {
    delay: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Backoff {
    fn new() -> Self {
        Self {
            delay: Duration::from_millis(10),
            last_log: None,
            unlogged: 0,
        }
    }

    /// The wait after one failure, and whether to log it (with the count not logged before it).
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let wait = self.delay;
        self.delay = (self.delay * 2).min(Duration::from_secs(1));
        if self
            .last_log
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(10))
        {
            self.last_log = Some(now);
            (wait, Some(std::mem::take(&mut self.unlogged)))
        } else {
            self.unlogged += 1;
            (wait, None)
        }
    }
}

/// Answers queries on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, engine: Arc<RwLock<Arc<Engine>>>, allowed: Allowed) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Backoff::new();
    loop {
        let (stream, src) = match listener.accept().await {
            Ok(accepted) => {
                backoff.delay = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                let (wait, log) = backoff.failed(Instant::now());
                if let Some(unlogged) = log {
                    warn!(error = %e, not_logged_since_last = unlogged, "the resolver's TCP accept failed");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        if !allowed.admits(src.ip()) {
            // Not the laptop or the bridge's containers (a pod through the tunnel, the LAN): closed before anything is read.
            debug!(%src, "TCP connection from a foreign source closed");
            continue;
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%src, "too many TCP connections; closed");
            continue;
        };
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(why) = connection(stream, &engine).await {
                debug!(%src, why, "TCP connection ended");
            }
        });
    }
}

/// One connection: length-prefixed queries until the client closes or breaks a limit.
async fn connection(mut stream: TcpStream, engine: &RwLock<Arc<Engine>>) -> Result<(), &'static str> {
    loop {
        let first = match tokio::time::timeout(IDLE, stream.read_u8()).await {
            Err(_) => return Err("idle"),
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(b)) => b,
        };
        let query = tokio::time::timeout(QUERY, async {
            let second = stream.read_u8().await?;
            let len = usize::from(u16::from_be_bytes([first, second]));
            let mut query = vec![0u8; len];
            stream.read_exact(&mut query).await?;
            Ok::<_, std::io::Error>(query)
        })
        .await
        .map_err(|_| "a query that did not arrive in time")?
        .map_err(|_| "closed in the middle of a query")?;
        let Some(reply) = answer(engine, &query).await else {
            continue;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        tokio::time::timeout(QUERY, stream.write_all(&framed))
            .await
            .map_err(|_| "an answer not read in time")?
            .map_err(|_| "closed before the answer")?;
    }
}

/// The answer to one query (the engine's answer cache, never truncated): FORMERR for a query
/// without exactly one question, NOTIMP for other opcodes, nothing for responses and garbage.
async fn answer(engine: &RwLock<Arc<Engine>>, query: &[u8]) -> Option<Vec<u8>> {
    let engine = engine.read().ok().map(|e| Arc::clone(&e))?;
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.metadata.recursion_available = true;
    match (request.metadata.op_code, request.queries.as_slice()) {
        (OpCode::Query, [question]) => {
            let name: Name = question.name().clone();
            let outcome = engine.answer(&name, question.query_type()).await;
            response.metadata.response_code = outcome.code;
            response.add_query(question.clone());
            response.insert_answers(outcome.answers);
            response.insert_authorities(outcome.authorities);
        }
        (OpCode::Query, _) => {
            response.metadata.response_code = ResponseCode::FormErr;
            response.add_queries(request.queries.clone());
        }
        _ => {
            response.metadata.response_code = ResponseCode::NotImp;
            response.add_queries(request.queries.clone());
        }
    }
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    response.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_and_log_once_per_interval() {
        let mut b = Backoff::new();
        let t0 = Instant::now();
        assert_eq!(b.failed(t0), (Duration::from_millis(10), Some(0)));
        let mut last = Duration::ZERO;
        for i in 1..=20 {
            let (wait, log) = b.failed(t0 + Duration::from_millis(i));
            assert_eq!(log, None);
            assert!(wait >= last);
            last = wait;
        }
        assert_eq!(last, Duration::from_secs(1));
        assert_eq!(b.failed(t0 + Duration::from_secs(10)).1, Some(20));
    }
}
