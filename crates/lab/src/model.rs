//! The lab cluster as data: nodes, locations, addresses, services. Pure: no I/O.
//!
//! Addressing (all inside namespaces the lab creates):
//! - underlay ("the internet", only inside the lab's namespaces): 192.0.2.0/24, node `i` at 192.0.2.(10+i),
//!   the laptop at .100;
//! - the API server: the host's 127.0.0.1:6443, forwarded into the laptop namespace at the same address;
//! - location LAN `l` (0-based, in order of first appearance): 192.168.(10*(l+1)).0/24, node `j` of it at .(11+j);
//! - pod CIDR of node `i`: 10.42.i.0/24, the node's pod gateway .1, its `echo-<node>` pod .10;
//! - service CIDR 10.43.0.0/16, Kilo WireGuard subnet 10.4.0.0/16.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::clusters::ClusterId;

/// Kilo's mesh granularity, as the lab supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Location,
    Full,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Location => "location",
            Granularity::Full => "full",
        }
    }
}

pub const UNDERLAY: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24);
pub const LAPTOP_UNDERLAY_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The "ISP resolver" the laptop's own resolv.conf names (outside the node range).
pub const ISP_DNS_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 253);
pub const POD_RANGE: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 42, 0, 0), 16);
pub const SERVICE_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 43, 0, 0), 16);
pub const KILO_SUBNET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 4, 0, 0), 16);
pub const CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 10);
pub const WEB_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 80);
pub const CLUSTER_DOMAIN: &str = "cluster.local";
pub const WIREGUARD_PORT: u16 = 51820;
/// Where the API server listens on the host, and where the laptop namespace reaches it.
pub const API_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 6443);
pub const DEFAULT_LOCATIONS: [&str; 4] = ["aws", "azure", "gcp", "aliyun"];
/// The longest node name: interface names (`kwg-<node>`, `u-<node>`) must fit in 15 bytes.
pub const MAX_NODE_NAME: usize = 11;

/// One lab node: a k3s node running Kilo in one cloud location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub location: String,
    /// Global index: picks the underlay address and the pod CIDR.
    pub index: u8,
    /// Index of the location: picks the location LAN.
    pub location_index: u8,
    /// Index within the location's LAN.
    pub lan_index: u8,
    pub underlay_ip: Ipv4Addr,
    pub private_key: String,
    pub public_key: String,
    /// The `kilo.squat.ai/leader` annotation is set.
    pub leader_annotation: bool,
    /// `last-seen` is refreshed; a stale node is not ready and leaves the mesh.
    pub fresh: bool,
    /// The lab's cluster it belongs to (its location LAN is that cluster's).
    #[serde(default)]
    pub cluster: ClusterId,
}

impl Node {
    pub fn internal_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, lan_octet(self.location_index), 11 + self.lan_index)
    }
    pub fn lan(&self) -> Ipv4Net {
        Ipv4Net::new_assert(Ipv4Addr::new(192, 168, lan_octet(self.location_index), 0), 24)
    }
    pub fn pod_cidr(&self) -> Ipv4Net {
        Ipv4Net::new_assert(Ipv4Addr::new(10, 42, self.index, 0), 24)
    }
    pub fn pod_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 42, self.index, 1)
    }
    pub fn pod_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 42, self.index, 10)
    }
    pub fn pod_name(&self) -> String {
        format!("echo-{}", self.name)
    }
    pub fn netns(&self) -> String {
        format!("kw-n-{}", self.name)
    }
    pub fn pod_netns(&self) -> String {
        format!("kw-p-{}", self.name)
    }
    pub fn wg_ifname(&self) -> String {
        format!("kwg-{}", self.name)
    }
    pub fn endpoint(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from((self.underlay_ip, WIREGUARD_PORT))
    }
}

fn lan_octet(location_index: u8) -> u8 {
    10u8.saturating_mul(location_index.saturating_add(1))
}

/// The DNS pod serving the cluster zone (k3s's CoreDNS), on the first node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPod {
    pub node: String,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub cluster: ClusterId,
}

impl DnsPod {
    /// The pod's name (kube-dns's endpoint) in every cluster.
    pub const NAME: &'static str = "coredns";
    /// Cluster `a`'s DNS pod namespace.
    pub const NETNS: &'static str = "kw-p-coredns";

    /// Its namespace: `kw-p-coredns` in `a`, `kw-p-b-coredns` in `b`.
    pub fn netns(&self) -> String {
        format!("kw-p-{}{}", self.cluster.prefix(), Self::NAME)
    }

    /// The name of its unbound process (and log): `coredns` in `a`, `b-coredns` in `b`.
    pub fn process(&self) -> String {
        format!("{}{}", self.cluster.prefix(), Self::NAME)
    }
}

/// A Service as the lab serves it (kube-proxy rules, DNS records, API object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    /// `None` for a headless service.
    pub cluster_ip: Option<Ipv4Addr>,
    pub ports: Vec<ServicePort>,
    /// The pods behind it: (pod name, pod IP).
    pub endpoints: Vec<(String, Ipv4Addr)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    pub name: String,
    pub port: u16,
    pub target_port: u16,
    /// `TCP` or `UDP`.
    pub protocol: String,
}

impl ServicePort {
    pub fn tcp(name: &str, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            target_port: port,
            protocol: "TCP".into(),
        }
    }
    pub fn udp(name: &str, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            target_port: port,
            protocol: "UDP".into(),
        }
    }
}

/// What `kubewire-lab up` was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSpec {
    pub granularity: Granularity,
    pub nodes_per_location: u8,
    pub locations: Vec<String>,
    /// How many clusters ([`ClusterId`]): `a` alone, or `a` and `b`.
    pub clusters: u8,
}

impl Default for LabSpec {
    fn default() -> Self {
        Self {
            granularity: Granularity::Location,
            nodes_per_location: 1,
            locations: DEFAULT_LOCATIONS.iter().map(|l| l.to_string()).collect(),
            clusters: 1,
        }
    }
}

/// Errors in a requested change of the lab's cluster.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("node {0:?} already exists")]
    NodeExists(String),
    #[error("no node named {0:?}")]
    NoSuchNode(String),
    #[error("node name {0:?} must be 1 to {MAX_NODE_NAME} characters of a-z, 0-9 and '-'")]
    BadNodeName(String),
    #[error("the lab has room for 200 nodes and 20 locations")]
    Full,
    #[error(
        "{0} is not a free underlay address (192.0.2.10 to 192.0.2.99 or 192.0.2.101 to 192.0.2.199, not taken by a node of any cluster)"
    )]
    BadUnderlayIp(Ipv4Addr),
    #[error("service {0} already exists")]
    ServiceExists(String),
    #[error("no added service {0}")]
    NoSuchService(String),
    #[error("{0:?} is not a namespace or service name (1 to 63 characters of a-z, 0-9 and '-')")]
    BadServiceName(String),
    #[error("{0} is not a free address in the service CIDR 10.43.0.0/16")]
    BadServiceIp(Ipv4Addr),
}

/// The whole lab cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Which of the lab's clusters this is.
    #[serde(default)]
    pub id: ClusterId,
    pub granularity: Granularity,
    pub nodes: Vec<Node>,
    pub locations: Vec<String>,
    pub dns: DnsPod,
    /// Services added while the lab runs ([`crate::extra_services`]).
    #[serde(default)]
    pub extra_services: Vec<crate::extra_services::ExtraService>,
}

impl Cluster {
    /// Cluster `a` of a spec, with fresh WireGuard keys from `keygen`.
    pub fn new(spec: &LabSpec, keygen: impl FnMut() -> (String, String)) -> Result<Self, ModelError> {
        Self::new_in(ClusterId::A, spec, &[], keygen)
    }

    /// Cluster `id` of a spec: the same ranges as every cluster of the lab, its nodes named
    /// `<prefix><location>[-<n>]`, their public addresses none of `taken` (the other clusters' nodes).
    pub fn new_in(
        id: ClusterId,
        spec: &LabSpec,
        taken: &[Ipv4Addr],
        mut keygen: impl FnMut() -> (String, String),
    ) -> Result<Self, ModelError> {
        let mut cluster = Cluster {
            id,
            granularity: spec.granularity,
            nodes: Vec::new(),
            locations: Vec::new(),
            dns: DnsPod {
                node: String::new(),
                ip: Ipv4Addr::UNSPECIFIED,
                cluster: id,
            },
            extra_services: Vec::new(),
        };
        let prefix = id.prefix();
        for location in &spec.locations {
            for j in 0..spec.nodes_per_location.max(1) {
                let name = if j == 0 {
                    format!("{prefix}{location}")
                } else {
                    format!("{prefix}{location}-{}", j + 1)
                };
                cluster.add_node_avoiding(&name, location, keygen(), taken)?;
            }
        }
        if let Some(first) = cluster.nodes.iter().min_by_key(|n| n.index) {
            cluster.dns = DnsPod {
                node: first.name.clone(),
                ip: Ipv4Addr::new(10, 42, first.index, 53),
                cluster: id,
            };
        }
        Ok(cluster)
    }

    /// The public addresses of its nodes.
    pub fn underlay_ips(&self) -> Vec<Ipv4Addr> {
        self.nodes.iter().map(|n| n.underlay_ip).collect()
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn node_mut(&mut self, name: &str) -> Result<&mut Node, ModelError> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| ModelError::NoSuchNode(name.into()))
    }

    /// Adds a node in `location` (a new location gets a new LAN), with the first free addresses.
    pub fn add_node(
        &mut self,
        name: &str,
        location: &str,
        keys: (String, String),
    ) -> Result<&Node, ModelError> {
        self.add_node_avoiding(name, location, keys, &[])
    }

    /// [`Cluster::add_node`], its public address none of `taken` (the other clusters' nodes).
    pub fn add_node_avoiding(
        &mut self,
        name: &str,
        location: &str,
        keys: (String, String),
        taken: &[Ipv4Addr],
    ) -> Result<&Node, ModelError> {
        validate_node_name(name)?;
        validate_node_name(location)?;
        if self.node(name).is_some() {
            return Err(ModelError::NodeExists(name.into()));
        }
        let location_index = match self.locations.iter().position(|l| l == location) {
            Some(i) => i,
            None => {
                self.locations.push(location.into());
                self.locations.len() - 1
            }
        };
        let location_index = u8::try_from(location_index)
            .ok()
            .filter(|i| *i < 20)
            .ok_or(ModelError::Full)?;
        let index = (0u8..200)
            .find(|i| self.nodes.iter().all(|n| n.index != *i))
            .ok_or(ModelError::Full)?;
        let lan_index = (0u8..200)
            .find(|j| {
                self.nodes
                    .iter()
                    .all(|n| n.location_index != location_index || n.lan_index != *j)
            })
            .ok_or(ModelError::Full)?;
        let underlay_ip = self.free_underlay_ip(taken).ok_or(ModelError::Full)?;
        let (private_key, public_key) = keys;
        self.nodes.push(Node {
            name: name.into(),
            location: location.into(),
            index,
            location_index,
            lan_index,
            underlay_ip,
            private_key,
            public_key,
            leader_annotation: false,
            fresh: true,
            cluster: self.id,
        });
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.node(name).ok_or_else(|| ModelError::NoSuchNode(name.into()))
    }

    pub fn remove_node(&mut self, name: &str) -> Result<Node, ModelError> {
        let at = self
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ModelError::NoSuchNode(name.into()))?;
        Ok(self.nodes.remove(at))
    }

    /// Whether `ip` may become a node's new underlay address.
    pub fn check_new_underlay_ip(&self, ip: Ipv4Addr) -> Result<(), ModelError> {
        let octet = ip.octets()[3];
        let in_range = UNDERLAY.contains(&ip) && (10..200).contains(&octet) && ip != LAPTOP_UNDERLAY_IP;
        if !in_range || self.nodes.iter().any(|n| n.underlay_ip == ip) {
            return Err(ModelError::BadUnderlayIp(ip));
        }
        Ok(())
    }

    /// The first free public address from the cluster's own start ([`ClusterId::underlay_start`]),
    /// then from the beginning of the range.
    fn free_underlay_ip(&self, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let start = self.id.underlay_start().clamp(10, 199);
        (start..200)
            .chain(10..start)
            .map(|o| Ipv4Addr::new(192, 0, 2, o))
            .find(|ip| {
                *ip != LAPTOP_UNDERLAY_IP
                    && !taken.contains(ip)
                    && self.nodes.iter().all(|n| n.underlay_ip != *ip)
            })
    }

    /// The lab's Services: `default/web` (pods on two nodes), headless `default/echo` (every pod),
    /// `kube-system/kube-dns` (the DNS pod).
    pub fn services(&self) -> Vec<Service> {
        let pod = |n: &Node| (n.pod_name(), n.pod_ip());
        // `web` is backed by the first and the third node's pods (two clouds), or all if fewer.
        let mut by_index: Vec<&Node> = self.nodes.iter().collect();
        by_index.sort_by_key(|n| n.index);
        let web: Vec<_> = match by_index.as_slice() {
            [a, _, c, ..] => vec![pod(a), pod(c)],
            all => all.iter().map(|n| pod(n)).collect(),
        };
        let mut services = vec![
            Service {
                name: "web".into(),
                namespace: "default".into(),
                cluster_ip: Some(WEB_SERVICE_IP),
                ports: vec![ServicePort::tcp("http", 80)],
                endpoints: web,
            },
            Service {
                name: "echo".into(),
                namespace: "default".into(),
                cluster_ip: None,
                ports: vec![ServicePort::tcp("http", 80)],
                endpoints: by_index.iter().map(|n| pod(n)).collect(),
            },
            Service {
                name: "kube-dns".into(),
                namespace: "kube-system".into(),
                cluster_ip: Some(CLUSTER_DNS_IP),
                ports: vec![ServicePort::udp("dns", 53), ServicePort::tcp("dns-tcp", 53)],
                endpoints: vec![(DnsPod::NAME.into(), self.dns.ip)],
            },
        ];
        let extra = self.extra(&services[0]);
        services.extend(extra);
        services
    }
}

pub fn validate_node_name(name: &str) -> Result<(), ModelError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ModelError::BadNodeName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> impl FnMut() -> (String, String) {
        let mut i = 0;
        move || {
            i += 1;
            (format!("priv{i}"), format!("pub{i}"))
        }
    }

    #[test]
    fn default_lab_matches_the_seed_addresses() {
        let c = Cluster::new(&LabSpec::default(), keys()).unwrap();
        let aws = c.node("aws").unwrap();
        assert_eq!(aws.pod_cidr().to_string(), "10.42.0.0/24");
        assert_eq!(aws.internal_ip().to_string(), "192.168.10.11");
        let aliyun = c.node("aliyun").unwrap();
        assert_eq!(aliyun.pod_cidr().to_string(), "10.42.3.0/24");
        assert_eq!(aliyun.internal_ip().to_string(), "192.168.40.11");
        assert_eq!(c.dns.ip.to_string(), "10.42.0.53");
        let names: Vec<_> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["aliyun", "aws", "azure", "gcp"]);
    }

    #[test]
    fn members_share_their_location_lan() {
        let spec = LabSpec {
            nodes_per_location: 2,
            ..LabSpec::default()
        };
        let c = Cluster::new(&spec, keys()).unwrap();
        assert_eq!(c.nodes.len(), 8);
        let a = c.node("aws").unwrap();
        let b = c.node("aws-2").unwrap();
        assert_eq!(a.lan(), b.lan());
        assert_ne!(a.internal_ip(), b.internal_ip());
        assert_ne!(a.pod_cidr(), b.pod_cidr());
    }

    #[test]
    fn adding_and_removing_nodes_reuses_free_addresses() {
        let mut c = Cluster::new(&LabSpec::default(), keys()).unwrap();
        assert_eq!(
            c.add_node("aws", "aws", ("a".into(), "b".into())).unwrap_err(),
            ModelError::NodeExists("aws".into())
        );
        assert!(c.add_node("Bad_Name", "x", ("a".into(), "b".into())).is_err());
        let ovh = c
            .add_node("ovh", "ovh", ("a".into(), "b".into()))
            .unwrap()
            .clone();
        assert_eq!(ovh.pod_cidr().to_string(), "10.42.4.0/24");
        assert_eq!(ovh.internal_ip().to_string(), "192.168.50.11");
        c.remove_node("azure").unwrap();
        let hz = c
            .add_node("hetzner", "hetzner", ("a".into(), "b".into()))
            .unwrap();
        assert_eq!(hz.pod_cidr().to_string(), "10.42.1.0/24");
        assert!(c.check_new_underlay_ip(Ipv4Addr::new(192, 0, 2, 150)).is_ok());
        assert!(c.check_new_underlay_ip(Ipv4Addr::new(192, 0, 2, 100)).is_err());
        assert!(c.check_new_underlay_ip(Ipv4Addr::new(10, 0, 0, 1)).is_err());
    }

    #[test]
    fn cluster_b_has_the_same_ranges_its_own_names_and_other_public_addresses() {
        let a = Cluster::new(&LabSpec::default(), keys()).unwrap();
        let b = Cluster::new_in(ClusterId::B, &LabSpec::default(), &a.underlay_ips(), keys()).unwrap();
        let names: Vec<_> = b.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["b-aliyun", "b-aws", "b-azure", "b-gcp"]);
        let (aws, b_aws) = (a.node("aws").unwrap(), b.node("b-aws").unwrap());
        assert_eq!(b_aws.pod_cidr(), aws.pod_cidr());
        assert_eq!(b_aws.internal_ip(), aws.internal_ip());
        assert_eq!(b_aws.location, "aws");
        assert_eq!(
            (b_aws.pod_name(), b_aws.netns(), b_aws.wg_ifname()),
            ("echo-b-aws".into(), "kw-n-b-aws".into(), "kwg-b-aws".into())
        );
        assert_eq!(b_aws.underlay_ip, Ipv4Addr::new(192, 0, 2, 110));
        assert!(b.underlay_ips().iter().all(|ip| !a.underlay_ips().contains(ip)));
        assert_eq!((b.dns.ip, b.dns.netns()), (a.dns.ip, "kw-p-b-coredns".into()));
        assert_eq!(
            (a.dns.netns(), a.dns.process()),
            (DnsPod::NETNS.into(), "coredns".into())
        );
        let addresses: Vec<Ipv4Addr> = b.services().iter().filter_map(|s| s.cluster_ip).collect();
        assert_eq!(addresses, [WEB_SERVICE_IP, CLUSTER_DNS_IP]);
        // A node added to `a` later never takes a public address of `b`'s.
        let mut a = a;
        for i in 0..100 {
            if a.add_node_avoiding(&format!("n{i}"), "x", keys()(), &b.underlay_ips())
                .is_err()
            {
                break;
            }
        }
        assert!(a.underlay_ips().iter().all(|ip| !b.underlay_ips().contains(ip)));
    }

    #[test]
    fn web_is_backed_by_two_nodes() {
        let c = Cluster::new(&LabSpec::default(), keys()).unwrap();
        let web = &c.services()[0];
        assert_eq!(web.endpoints.len(), 2);
        assert_eq!(web.endpoints[0].0, "echo-aws");
        assert_eq!(web.endpoints[1].0, "echo-gcp");
    }
}
