//! The Kubernetes objects the lab's API server holds for its cluster: Nodes with the Kilo annotations
//! the lab's nodes really have, Services, Endpoints, Namespaces.

use serde_json::{Value, json};

use crate::model::{Granularity, Node, Service};

pub const KILO: &str = "kilo.squat.ai";
/// How long ago `last-seen` is set for a node made stale (Kilo's readiness window is 60 s).
pub const STALE_AGE_SECS: u64 = 120;

/// The Node object of `node`. `wireguard_ip` is set on segment leaders; `now` is Unix seconds.
pub fn node(node: &Node, granularity: Granularity, wireguard_ip: Option<&str>, now: u64) -> Value {
    let last_seen = if node.fresh {
        now
    } else {
        now.saturating_sub(STALE_AGE_SECS)
    };
    let mut annotations = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        annotations.insert(format!("{KILO}/{k}"), Value::String(v));
    };
    put("key", node.public_key.clone());
    put("endpoint", node.endpoint().to_string());
    put(
        "internal-ip",
        format!("{}/{}", node.internal_ip(), node.lan().prefix_len()),
    );
    put("location", node.location.clone());
    put("last-seen", last_seen.to_string());
    put("granularity", granularity.as_str().into());
    put("persistent-keepalive", "0".into());
    if let Some(ip) = wireguard_ip {
        put("wireguard-ip", ip.into());
    }
    if node.leader_annotation {
        put("leader", "true".into());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/region": node.location,

            },
            "annotations": annotations,
        },
        "spec": { "podCIDR": node.pod_cidr().to_string(), "podCIDRs": [node.pod_cidr().to_string()] },
        "status": {
            "addresses": [
                { "type": "InternalIP", "address": node.internal_ip().to_string() },
                { "type": "ExternalIP", "address": node.underlay_ip.to_string() },
                { "type": "Hostname", "address": node.name },
            ],
            "conditions": [{ "type": "Ready", "status": if node.fresh { "True" } else { "Unknown" },
                             "reason": if node.fresh { "KubeletReady" } else { "NodeStatusUnknown" } }],
            "nodeInfo": {
                "kubeletVersion": "v1.33.4+k3s1",
                "kubeProxyVersion": "v1.33.4+k3s1",
                "osImage": "kubewire lab (network namespace)",
                "kernelVersion": "lab",
                "containerRuntimeVersion": "containerd://2.0.5-k3s1",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    })
}

pub fn namespace(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }, "spec": {}, "status": { "phase": "Active" } })
}

pub fn service(svc: &Service) -> Value {
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .map(|p| json!({ "name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": p.protocol }))
        .collect();
    let ip = svc
        .cluster_ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "None".into());
    let mut labels = json!({ "app": svc.name });
    if svc.name == "kube-dns" {
        labels = json!({ "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" });
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": svc.name, "namespace": svc.namespace, "labels": labels },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": ports,
            "selector": { "app": svc.name },
        },
        "status": { "loadBalancer": {} },
    })
}

pub fn endpoints(svc: &Service) -> Value {
    let addresses: Vec<Value> = svc
        .endpoints
        .iter()
        .map(|(pod, ip)| {
            json!({ "ip": ip.to_string(), "hostname": pod,
                    "targetRef": { "kind": "Pod", "name": pod, "namespace": svc.namespace } })
        })
        .collect();
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .map(|p| json!({ "name": p.name, "port": p.target_port, "protocol": p.protocol }))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": { "name": svc.name, "namespace": svc.namespace },
        "subsets": [{ "addresses": addresses, "ports": ports }],
    })
}
