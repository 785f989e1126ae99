//! Answers one question: route it (see [`crate::route`]), ask the cluster and/or the upstreams, and
//! compose the records (a CNAME in front of an expanded short name).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::debug;

use super::answers::Answers;
use super::forwarder::{Failure, Forwarder, Outcome};
use super::inflight::InFlight;
use super::packets::Packets;
use super::wire;
use crate::DnsError;
use crate::config::ResolverConfig;
use crate::reverse::reverse_zones;
use crate::route::{Route, Router};

/// After a cluster transport failure, short names skip the cluster this long (the upstream answers at
/// once instead of after a cluster timeout). Full cluster names are still tried.
const CLUSTER_DOWN_FOR: Duration = Duration::from_secs(2);

/// EDNS payload size we advertise (the DNS flag day value).
pub(crate) const EDNS_PAYLOAD: u16 = 1232;

pub(crate) struct Engine {
    router: Router,
    cluster: Option<Forwarder>,
    upstream: Option<Forwarder>,
    /// Finished answers, for TCP (`None`: cache off).
    answers: Option<Answers>,
    /// Finished UDP answers as bytes (`None`: cache off).
    packets: Option<Packets>,
    /// UDP questions being asked now.
    pub inflight: InFlight,
    epoch: Instant,
    /// Milliseconds after `epoch` until which the cluster counts as down.
    cluster_down_until: AtomicU64,
}

impl Engine {
    pub fn new(config: &ResolverConfig) -> Result<Self, DnsError> {
        let zone = Name::from_ascii(&config.zone)
            .map_err(|e| DnsError::Config(format!("zone {:?}: {e}", config.zone)))?;
        if zone.is_root() {
            return Err(DnsError::Config("the cluster zone cannot be the root".into()));
        }
        let router = Router::new(
            zone,
            reverse_zones(&config.reverse_ranges),
            config.default_namespace.clone(),
        )
        .with_namespaces(config.namespaces.clone());
        let cluster = match config.cluster_dns {
            Some(addr) => Some(Forwarder::new(&[addr], config.cluster_timeout)?),
            None => None,
        };
        let upstream = if config.upstreams.is_empty() {
            None
        } else {
            Some(Forwarder::new(&config.upstreams, config.upstream_timeout)?)
        };
        Ok(Self {
            router,
            cluster,
            upstream,
            epoch: Instant::now(),
            cluster_down_until: AtomicU64::new(0),
            answers: config.cache.then(Answers::new),
            packets: config.cache.then(Packets::new),
            inflight: InFlight::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cluster_down(&self) -> bool {
        self.now_ms() < self.cluster_down_until.load(Ordering::Relaxed)
    }

    /// Ask the cluster; `None` on a transport failure (remembered for [`CLUSTER_DOWN_FOR`]).
    async fn ask_cluster(&self, name: &Name, rtype: RecordType) -> Option<Outcome> {
        let cluster = self.cluster.as_ref()?;
        match cluster.lookup(name, rtype).await {
            Ok(outcome) => Some(outcome),
            Err(failure) => {
                let until = self
                    .now_ms()
                    .saturating_add(u64::try_from(CLUSTER_DOWN_FOR.as_millis()).unwrap_or(u64::MAX));
                self.cluster_down_until.store(until, Ordering::Relaxed);
                debug!(%name, ?rtype, ?failure, "cluster DNS failed");
                None
            }
        }
    }

    async fn ask_upstream(&self, name: &Name, rtype: RecordType) -> Outcome {
        let Some(upstream) = &self.upstream else {
            return Outcome::code(ResponseCode::Refused);
        };
        match upstream.lookup(name, rtype).await {
            Ok(outcome) => outcome,
            Err(Failure::Other(e)) => {
                debug!(%name, ?rtype, error = e, "upstream failed");
                Outcome::code(ResponseCode::ServFail)
            }
            Err(Failure::Timeout) => {
                debug!(%name, ?rtype, "upstream timed out");
                Outcome::code(ResponseCode::ServFail)
            }
        }
    }

    /// The cached UDP answer (whole, not yet fitted to the client) for the question `key`, made the
    /// answer to `query` (parsed as `q`).
    pub fn cached(&self, key: &[u8], query: &[u8], q: &wire::Query) -> Option<Vec<u8>> {
        let mut reply = self.packets.as_ref()?.get(key, Instant::now())?;
        wire::answer_to(&mut reply, query, q);
        Some(reply)
    }

    /// The whole UDP answer to `query` (parsed as `q`, question `key`), kept in the cache by its TTL.
    pub async fn answer_packet(&self, key: &[u8], query: &[u8], q: &wire::Query) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let question = request.queries.first()?;
        let outcome = self.resolve(question.name(), question.query_type()).await;
        let (bytes, ttl) = compose(&request, outcome, q.edns)?;
        if let Some(packets) = &self.packets {
            packets.put(key.to_vec(), bytes.clone(), ttl, Instant::now());
        }
        Some(bytes)
    }

    /// The answer to `name`/`rtype`.
    pub async fn answer(&self, name: &Name, rtype: RecordType) -> Outcome {
        let Some(answers) = &self.answers else {
            return self.resolve(name, rtype).await;
        };
        if let Some(hit) = answers.get(name, rtype, Instant::now()) {
            return hit;
        }
        let outcome = self.resolve(name, rtype).await;
        answers.put(name, rtype, &outcome, Instant::now());
        outcome
    }

    async fn resolve(&self, name: &Name, rtype: RecordType) -> Outcome {
        let route = self.router.route(name);
        debug!(%name, ?rtype, ?route, "query");
        match route {
            Route::Cluster => self
                .ask_cluster(name, rtype)
                .await
                .unwrap_or_else(|| Outcome::code(ResponseCode::ServFail)),
            Route::Upstream => self.ask_upstream(name, rtype).await,
            Route::NxDomain => Outcome::code(ResponseCode::NXDomain),
            Route::ShortName { expanded } => {
                let skip_cluster = self.upstream.is_some() && self.cluster_down();
                let cluster = if skip_cluster {
                    None
                } else {
                    self.ask_cluster(&expanded, rtype).await
                };
                match cluster {
                    Some(found) if found.code == ResponseCode::NoError => with_cname(name, &expanded, found),
                    Some(missing) if self.upstream.is_none() => missing,
                    None if self.upstream.is_none() => Outcome::code(ResponseCode::ServFail),
                    _ => self.ask_upstream(name, rtype).await,
                }
            }
        }
    }
}

/// The response to `request` (its first question) carrying `outcome`, encoded, and how long it may be
/// cached. `None` when it cannot be encoded (no answer is sent).
pub(crate) fn compose(request: &Message, outcome: Outcome, edns: bool) -> Option<(Vec<u8>, u32)> {
    let question = request.queries.first()?.clone();
    let mut response = Message::response(request.metadata.id, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.metadata.recursion_available = true;
    response.metadata.response_code = outcome.code;
    response.add_query(question);
    let ttl = outcome.cache_ttl();
    response.insert_answers(outcome.answers);
    response.insert_authorities(outcome.authorities);
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(e);
    }
    Some((response.to_vec().ok()?, ttl))
}

/// `name CNAME expanded` in front of the cluster's answer for `expanded` (TTL: the shortest).
pub(crate) fn with_cname(name: &Name, expanded: &Name, mut found: Outcome) -> Outcome {
    let ttl = found
        .answers
        .iter()
        .chain(found.authorities.iter())
        .map(|r| r.ttl)
        .min()
        .unwrap_or(5);
    let mut owner = name.clone();
    owner.set_fqdn(true);
    let cname = Record::from_rdata(owner, ttl, RData::CNAME(CNAME(expanded.clone())));
    found.answers.insert(0, cname);
    found
}
