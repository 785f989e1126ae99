//! One upstream group (the cluster DNS, or the original nameservers) behind a hickory resolver:
//! cache, TTLs and negative caching are hickory's; this adds a hard deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};

use crate::DnsError as Error;

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
}

/// Why an upstream gave no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer before the deadline.
    Timeout,
    /// Unreachable, refused, SERVFAIL upstream, ...
    Other(NetError),
}

pub(crate) struct Forwarder {
    resolver: Resolver<TokioRuntimeProvider>,
    deadline: Duration,
}

impl Forwarder {
    pub fn new(servers: &[SocketAddr], deadline: Duration, cache: bool) -> Result<Self, Error> {
        let name_servers = servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut ns = NameServerConfig::udp(addr.ip());
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        let config = ResolverConfig::from_parts(None, vec![], name_servers);
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.ndots = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        opts.case_randomization = false;
        opts.edns0 = true;
        // Two tries inside the deadline: one lost UDP packet costs half of it, not a SERVFAIL.
        opts.timeout = deadline / 2;
        opts.attempts = 2;
        if cache {
            opts.cache_size = 8192;
            // A negative answer without an SOA is still kept a moment (with one, its TTL counts).
            opts.negative_min_ttl = Some(Duration::from_secs(1));
        } else {
            opts.cache_size = 0;
            opts.positive_max_ttl = Some(Duration::ZERO);
            opts.negative_max_ttl = Some(Duration::ZERO);
        }
        let resolver = builder
            .build()
            .map_err(|e| Error::Config(format!("resolver: {e}")))?;
        Ok(Self { resolver, deadline })
    }

    /// Ask for `name` (fully qualified) and `rtype`.
    pub async fn lookup(&self, name: &Name, rtype: RecordType) -> Result<Outcome, Failure> {
        let mut name = name.clone();
        name.set_fqdn(true);
        let lookup = tokio::time::timeout(self.deadline, self.resolver.lookup(name, rtype)).await;
        match lookup {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(lookup)) => {
                let left = lookup
                    .valid_until()
                    .saturating_duration_since(Instant::now())
                    .as_secs();
                let left = u32::try_from(left).unwrap_or(u32::MAX);
                let answers = lookup
                    .answers()
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        r.ttl = r.ttl.min(left);
                        r
                    })
                    .collect();
                Ok(Outcome {
                    code: ResponseCode::NoError,
                    answers,
                    authorities: Vec::new(),
                })
            }
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(none)))) => Ok(Outcome {
                code: none.response_code,
                answers: Vec::new(),
                authorities: none
                    .soa
                    .map(|soa| vec![soa.into_record_of_rdata()])
                    .unwrap_or_default(),
            }),
            Ok(Err(e)) => Err(Failure::Other(e)),
        }
    }
}
