//! `lab.json`: the description of a running lab, for tests and tools.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{self, Cluster};

/// The lab as tests see it. Written by the controller at start and after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabDescription {
    pub kubeconfig: PathBuf,
    pub api_server: String,
    pub laptop_netns: String,
    pub laptop_ip: String,
    pub underlay_cidr: String,
    pub cluster_domain: String,
    pub service_cidr: String,
    pub pod_cidr: String,
    pub kilo_subnet: String,
    pub cluster_dns: String,
    pub granularity: String,
    /// unbound's query log of the cluster DNS.
    pub dns_query_log: PathBuf,
    /// The laptop's original nameserver (the "ISP resolver", `/etc/netns/<laptop>/resolv.conf`).
    #[serde(default)]
    pub isp_dns: String,
    /// unbound's query log of the ISP resolver.
    #[serde(default)]
    pub isp_query_log: PathBuf,
    pub control_socket: PathBuf,
    pub nodes: Vec<NodeDescription>,
    pub services: Vec<ServiceDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescription {
    pub name: String,
    pub location: String,
    /// `ip:port` of its WireGuard listener on the underlay.
    pub endpoint: String,
    pub pod_cidr: String,
    pub pod_ip: String,
    pub pod_name: String,
    /// Leader of its Kilo segment.
    pub leader: bool,
    pub ready: bool,
    pub public_key: String,
    pub internal_ip: String,
    /// Kilo WireGuard address (leaders).
    pub wireguard_ip: Option<String>,
    pub netns: String,
    pub pod_netns: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDescription {
    pub name: String,
    pub namespace: String,
    /// `None` for a headless service.
    pub cluster_ip: Option<String>,
    pub port: u16,
    /// Pods that may answer.
    pub pods: Vec<String>,
    pub pod_ips: Vec<String>,
}

impl LabDescription {
    pub fn new(dir: &Path, api_server: &str, cluster: &Cluster, leaders: &[(String, String)]) -> Self {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let wg = leaders
                    .iter()
                    .find(|(name, _)| *name == n.name)
                    .map(|(_, ip)| ip.clone());
                NodeDescription {
                    name: n.name.clone(),
                    location: n.location.clone(),
                    endpoint: n.endpoint().to_string(),
                    pod_cidr: n.pod_cidr().to_string(),
                    pod_ip: n.pod_ip().to_string(),
                    pod_name: n.pod_name(),
                    leader: wg.is_some(),
                    ready: n.fresh,
                    public_key: n.public_key.clone(),
                    internal_ip: n.internal_ip().to_string(),
                    wireguard_ip: wg,
                    netns: n.netns(),
                    pod_netns: n.pod_netns(),
                }
            })
            .collect();
        let services = cluster
            .services()
            .into_iter()
            .map(|s| ServiceDescription {
                port: s.ports.first().map(|p| p.port).unwrap_or(0),
                cluster_ip: s.cluster_ip.map(|ip| ip.to_string()),
                pods: s.endpoints.iter().map(|(p, _)| p.clone()).collect(),
                pod_ips: s.endpoints.iter().map(|(_, ip)| ip.to_string()).collect(),
                name: s.name,
                namespace: s.namespace,
            })
            .collect();
        LabDescription {
            kubeconfig: dir.join("kubeconfig"),
            api_server: api_server.into(),
            laptop_netns: crate::net::ns::LAPTOP_NS.into(),
            laptop_ip: model::LAPTOP_UNDERLAY_IP.to_string(),
            underlay_cidr: model::UNDERLAY.to_string(),
            cluster_domain: model::CLUSTER_DOMAIN.into(),
            service_cidr: model::SERVICE_CIDR.to_string(),
            pod_cidr: model::POD_RANGE.to_string(),
            kilo_subnet: model::KILO_SUBNET.to_string(),
            cluster_dns: model::CLUSTER_DNS_IP.to_string(),
            granularity: cluster.granularity.as_str().into(),
            dns_query_log: dir.join("dns").join("queries.log"),
            isp_dns: model::ISP_DNS_IP.to_string(),
            isp_query_log: dir.join("isp").join("queries.log"),
            control_socket: dir.join("control.sock"),
            nodes,
            services,
        }
    }

    /// Reads `lab.json`.
    pub fn load(path: &Path) -> Result<Self, std::io::Error> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Writes `lab.json` atomically (a reader never sees half a file).
    pub fn save(&self, path: &Path) -> Result<(), std::io::Error> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)
    }

    pub fn node(&self, name: &str) -> Option<&NodeDescription> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceDescription> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }
}
