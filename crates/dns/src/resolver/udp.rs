//! The UDP side of the resolver, served by our own loop: source check, cached answers sent straight
//! from the receive loop, other queries answered in a task of their own, or together with the same
//! question already in flight ([`super::inflight`]). TCP: [`super::tcp`].

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use tokio::net::UdpSocket;
use tracing::debug;

use super::engine::{EDNS_PAYLOAD, Engine};
use super::inflight::{Join, Waiter};
use super::source::Allowed;
use super::wire;

/// The largest query we read.
const MAX_QUERY: usize = 4096;

async fn send(socket: &UdpSocket, reply: &[u8], to: SocketAddr) {
    if let Err(e) = socket.send_to(reply, to).await {
        debug!(error = %e, %to, "sending a DNS answer failed");
    }
}

/// Answers queries on `socket` until the task is aborted.
pub(crate) async fn serve(socket: Arc<UdpSocket>, engine: Arc<RwLock<Arc<Engine>>>, allowed: Allowed) {
    let mut buf = vec![0u8; MAX_QUERY];
    loop {
        let (len, src) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                debug!(error = %e, "receiving a DNS query failed");
                continue;
            }
        };
        if !allowed.admits(src.ip()) {
            // Not the laptop or the bridge's containers (a pod through the tunnel, the LAN): no answer at all.
            debug!(%src, "query from a foreign source dropped");
            continue;
        }
        let Some(engine) = engine.read().ok().map(|e| Arc::clone(&e)) else {
            continue;
        };
        let query = &buf[..len];
        let Some(parsed) = wire::Query::parse(query) else {
            if let Some(reply) = refusal(query) {
                send(&socket, &reply, src).await;
            }
            continue;
        };
        let key = parsed.key(query);
        if let Some(reply) = engine.cached(&key, query, &parsed) {
            send(&socket, &wire::fit(reply, &parsed, EDNS_PAYLOAD), src).await;
            continue;
        }
        let join = engine.inflight.join(&key, || Waiter {
            query: query.to_vec(),
            q: parsed.clone(),
            src,
        });
        if join == Join::Queued {
            continue;
        }
        let query = query.to_vec();
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            let reply = engine.answer_packet(&key, &query, &parsed).await;
            let waiters = if join == Join::Lead {
                engine.inflight.finish(&key)
            } else {
                Vec::new()
            };
            let Some(reply) = reply else {
                return;
            };
            for w in waiters {
                let mut theirs = reply.clone();
                wire::answer_to(&mut theirs, &w.query, &w.q);
                send(&socket, &wire::fit(theirs, &w.q, EDNS_PAYLOAD), w.src).await;
            }
            send(&socket, &wire::fit(reply, &parsed, EDNS_PAYLOAD), src).await;
        });
    }
}

/// The error answer to a message that is not a plain query: FORMERR for a query with no or several
/// questions, NOTIMP for other opcodes; nothing for responses or garbage.
pub(crate) fn refusal(query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let code = if request.metadata.op_code == OpCode::Query {
        ResponseCode::FormErr
    } else {
        ResponseCode::NotImp
    };
    let mut reply = Message::error_msg(request.metadata.id, request.metadata.op_code, code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.add_queries(request.queries);
    reply.to_vec().ok()
}
