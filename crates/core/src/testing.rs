//! Builders for tests (the `test-support` feature): a Plan by hand, without a cluster, in one place
//! instead of a 45-line literal in every crate that needs one.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use crate::plan::{ClusterSummary, Dns, Interface, PLAN_VERSION, PeerEntry, PeerKind, PlanPolicy};
use crate::{Endpoint, Granularity, Plan, PublicKey};

/// A Plan made by hand: laptop `10.4.0.100/32` with key `[9; 32]`, MTU 1420, zone `cluster.local`
/// without a server, Kilo subnet `10.4.0.0/16`; peers are Kilo Peers added with [`PlanBuilder::peer`].
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    plan: Plan,
}

impl PlanBuilder {
    /// A Plan for the interface `name`, no peers yet.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            plan: Plan {
                version: PLAN_VERSION,
                interface: Interface {
                    name: name.to_owned(),
                    address: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(10, 4, 0, 100), 32)),
                    public_key: PublicKey::from_bytes([9; 32]),
                    mtu: Some(1420),
                    listen_port: None,
                },
                peers: Vec::new(),
                routes: Vec::new(),
                dns: Dns {
                    zone: "cluster.local".into(),
                    server: None,
                    search: Vec::new(),
                    namespaces: None,
                },
                service_gateway: None,
                cluster: ClusterSummary {
                    granularity: Granularity::Location,
                    subnet: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(10, 4, 0, 0), 16)),
                    nodes: 0,
                    ready_nodes: 0,
                    now: 0,
                },
                refused: Vec::new(),
                skipped: Vec::new(),
                diagnostics: Vec::new(),
                policy: PlanPolicy::default(),
            },
        }
    }

    /// The laptop's public key.
    #[must_use]
    pub fn laptop_key(mut self, key: PublicKey) -> Self {
        self.plan.interface.public_key = key;
        self
    }

    /// A Kilo Peer entry at `endpoint` (`host:port`) with `ranges`, counted as a ready node.
    ///
    /// # Panics
    /// When `endpoint` or a range does not parse (a test's typo).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn peer(
        mut self,
        name: &str,
        key: PublicKey,
        endpoint: &str,
        ranges: &[&str],
        keepalive: u16,
    ) -> Self {
        self.plan.peers.push(PeerEntry {
            name: name.to_owned(),
            kind: PeerKind::KiloPeer,
            public_key: key,
            endpoint: Some(endpoint.parse::<Endpoint>().expect("a test endpoint")),
            allowed_ips: ranges.iter().map(|r| r.parse().expect("a test range")).collect(),
            persistent_keepalive: keepalive,
        });
        self.plan.cluster.nodes += 1;
        self.plan.cluster.ready_nodes += 1;
        self
    }

    /// The Plan, its routes those of its peers.
    #[must_use]
    pub fn build(mut self) -> Plan {
        self.plan.routes = crate::policy::routes(&self.plan.peers);
        self.plan
    }
}
