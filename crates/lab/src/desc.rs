//! `lab.json`: the description of a running lab, for tests and tools.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clusters::ClusterId;
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
    /// With `lab up --clusters 2`: every cluster (`a`, the top level, first), each with the keys of the
    /// top level and its kubeconfig context. Absent with one cluster (plain `lab up`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDescription>,
}

/// One cluster of the lab in `lab.json`'s `clusters`: the keys of the top level, plus `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDescription {
    /// Its context in the lab's one kubeconfig (`kubewire-lab`, `kubewire-lab-b`).
    pub context: String,
    #[serde(flatten)]
    pub desc: LabDescription,
}

impl std::ops::Deref for ClusterDescription {
    type Target = LabDescription;
    fn deref(&self) -> &LabDescription {
        &self.desc
    }
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
            dns_query_log: cluster.id.home(dir).join("dns").join("queries.log"),
            isp_dns: model::ISP_DNS_IP.to_string(),
            isp_query_log: dir.join("isp").join("queries.log"),
            control_socket: dir.join("control.sock"),
            nodes,
            services,
            clusters: Vec::new(),
        }
    }

    /// The description of several clusters: `a`'s at the top level, and every one in `clusters`.
    /// One cluster alone is described exactly as before (no `clusters`).
    pub fn of_clusters(mut each: Vec<(ClusterId, LabDescription)>) -> Option<Self> {
        if each.len() < 2 {
            return each.pop().map(|(_, desc)| desc);
        }
        let clusters: Vec<ClusterDescription> = each
            .into_iter()
            .map(|(id, desc)| ClusterDescription {
                context: id.context(),
                desc,
            })
            .collect();
        let mut top = clusters.first()?.desc.clone();
        top.clusters = clusters;
        Some(top)
    }

    /// Cluster `id` of the lab (`a` is the top level also when the lab has one cluster).
    pub fn cluster(&self, id: ClusterId) -> Option<&LabDescription> {
        if self.clusters.is_empty() {
            return (id == ClusterId::A).then_some(self);
        }
        self.clusters.get(id.index()).map(|c| &c.desc)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabSpec;

    fn keys() -> impl FnMut() -> (String, String) {
        || ("private".into(), "public".into())
    }

    #[test]
    fn one_cluster_is_described_as_always_and_two_gain_clusters() {
        let dir = Path::new("/lab");
        let a = Cluster::new(&LabSpec::default(), keys()).unwrap();
        let b = Cluster::new_in(ClusterId::B, &LabSpec::default(), &a.underlay_ips(), keys()).unwrap();
        let desc_a = LabDescription::new(dir, "https://127.0.0.1:6443", &a, &[]);
        let desc_b = LabDescription::new(dir, "https://127.0.0.1:6444", &b, &[]);

        let one = LabDescription::of_clusters(vec![(ClusterId::A, desc_a.clone())]).unwrap();
        let text = serde_json::to_string_pretty(&one).unwrap();
        assert!(!text.contains("clusters"), "{text}");
        assert_eq!(one, desc_a);
        assert_eq!(one.cluster(ClusterId::A), Some(&desc_a));
        assert_eq!(one.cluster(ClusterId::B), None);

        let two = LabDescription::of_clusters(vec![
            (ClusterId::A, desc_a.clone()),
            (ClusterId::B, desc_b.clone()),
        ])
        .unwrap();
        let json: serde_json::Value = serde_json::to_value(&two).unwrap();
        // The top level is `a`, key for key; every entry has the same keys plus its context.
        let top: Vec<&String> = json.as_object().unwrap().keys().collect();
        let entry_b = &json["clusters"][1];
        let mut b_keys: Vec<&String> = entry_b.as_object().unwrap().keys().collect();
        b_keys.retain(|k| *k != "context");
        let mut top_keys: Vec<&String> = top.iter().copied().filter(|k| *k != "clusters").collect();
        top_keys.sort();
        b_keys.sort();
        assert_eq!(b_keys, top_keys);
        assert_eq!(json["nodes"], serde_json::to_value(&desc_a.nodes).unwrap());
        assert_eq!(json["clusters"][0]["context"], "kubewire-lab");
        assert_eq!(entry_b["context"], "kubewire-lab-b");
        assert_eq!(entry_b["api_server"], "https://127.0.0.1:6444");
        assert_eq!(entry_b["nodes"][1]["pod_name"], "echo-b-aws");
        assert_eq!(entry_b["dns_query_log"], "/lab/b/dns/queries.log");
        assert_eq!(entry_b["service_cidr"], json["service_cidr"]);

        let back: LabDescription = serde_json::from_value(json).unwrap();
        assert_eq!(back, two);
        assert_eq!(back.cluster(ClusterId::B), Some(&desc_b));
        assert_eq!(back.cluster(ClusterId::A), Some(&desc_a));
    }
}
