//! The hickory-server request handler (TCP): source check, one question, the engine's answer.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Name;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::{debug, warn};

use super::engine::{EDNS_PAYLOAD, Engine};

pub(crate) struct Handler {
    pub engine: Arc<RwLock<Arc<Engine>>>,
    /// The address we listen on: queries from it or from loopback are the laptop's own.
    pub listen_ip: IpAddr,
}

impl Handler {
    fn source_allowed(&self, src: IpAddr) -> bool {
        src.is_loopback() || src == self.listen_ip
    }

    fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.read().ok().map(|e| Arc::clone(&e))
    }
}

fn not_sent(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    hickory_proto::op::Header {
        metadata,
        counts: Default::default(),
    }
    .into()
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let src = request.src().ip();
        if !self.source_allowed(src) {
            // Not the laptop (a pod through the tunnel, the LAN): no answer at all.
            debug!(%src, "query from a foreign source dropped");
            return not_sent(request, ResponseCode::Refused);
        }
        let edns = request.edns.as_ref().map(|_| {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            e
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let queries = request.queries.queries();
        let (code, outcome) = match (request.metadata.message_type, request.metadata.op_code, queries) {
            (MessageType::Query, OpCode::Query, [query]) => match self.engine() {
                Some(engine) => {
                    let name: Name = query.name().into();
                    let outcome = engine.answer(&name, query.query_type()).await;
                    (outcome.code, Some(outcome))
                }
                None => (ResponseCode::ServFail, None),
            },
            (MessageType::Query, OpCode::Query, _) => (ResponseCode::FormErr, None),
            _ => (ResponseCode::NotImp, None),
        };
        let sent = match &outcome {
            Some(outcome) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.recursion_available = true;
                metadata.response_code = code;
                let message = builder.build(
                    metadata,
                    outcome.answers.iter(),
                    outcome.authorities.iter(),
                    std::iter::empty(),
                    std::iter::empty(),
                );
                response.send_response(message).await
            }
            None => {
                let message = builder.error_msg(&request.metadata, code);
                response.send_response(message).await
            }
        };
        match sent {
            Ok(info) => info,
            Err(e) => {
                warn!(error = %e, "sending a DNS response failed");
                not_sent(request, ResponseCode::ServFail)
            }
        }
    }
}
