//! The Kubernetes objects the lab's API server holds for its cluster: Nodes with the Kilo annotations
//! the lab's nodes really have, Services, Endpoints, Namespaces.

use serde_json::{Value, json};

use crate::model::{Granularity, Node, Service};

pub const KILO: &str = "kilo.squat.ai";
/// How long ago `last-seen` is set for a node made stale (Kilo's readiness window is 60 s).
pub const STALE_AGE_SECS: u64 = 120;

/// The annotations the lab writes on its Nodes (as Kilo's agent does, and `leader` for `lab node
/// leader`), under `kilo.squat.ai/`. A reconcile sets these and keeps every other annotation.
const OWNED: &[&str] = &[
    "key",
    "endpoint",
    "internal-ip",
    "location",
    "last-seen",
    "granularity",
    "persistent-keepalive",
    "wireguard-ip",
    "leader",
];

fn owned(key: &str) -> bool {
    key.strip_prefix(KILO)
        .and_then(|k| k.strip_prefix('/'))
        .is_some_and(|k| OWNED.contains(&k))
}

/// Adds to `desired` the annotations of `current` that the lab does not own, as on a real cluster,
/// where Kilo's agent writes its own annotations and leaves a user's (`kubectl annotate node N
/// kilo.squat.ai/allowed-location-ips=...`) alone. Without this, every reconcile (a Peer registered, a
/// node moved) would silently undo a test's annotation.
pub fn keep_foreign_annotations(current: &Value, desired: &mut Value) {
    let Some(current) = current
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return;
    };
    let foreign: Vec<(&String, &Value)> = current.iter().filter(|(k, _)| !owned(k)).collect();
    if foreign.is_empty() {
        return;
    }
    let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(annotations) = annotations.as_object_mut() {
        for (k, v) in foreign {
            annotations.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

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

/// `kube-system/coredns` as k3s ships it: its Corefile names the cluster domain (`kubewire connect`
/// reads it from there).
pub fn coredns_config(domain: &str) -> Value {
    let corefile = format!(
        ".:53 {{\n    errors\n    health\n    ready\n    kubernetes {domain} in-addr.arpa ip6.arpa {{\n      \
         pods insecure\n      fallthrough in-addr.arpa ip6.arpa\n    }}\n    forward . /etc/resolv.conf\n    \
         cache 30\n    loop\n    reload\n    loadbalance\n}}\n"
    );
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "coredns", "namespace": "kube-system" },
        "data": { "Corefile": corefile },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, LabSpec};

    #[test]
    fn a_reconcile_keeps_a_users_annotation_and_updates_the_labs() {
        let cluster = Cluster::new(&LabSpec::default(), || ("private".into(), "public".into())).unwrap();
        let n = &cluster.nodes[0];
        let mut current = node(n, Granularity::Location, Some("10.4.0.1/16"), 100);
        current["metadata"]["annotations"]["kilo.squat.ai/allowed-location-ips"] = json!("1.0.0.0/8");
        current["metadata"]["annotations"]["example.com/owner"] = json!("team-a");
        // The node is no longer a leader and time moved on.
        let mut desired = node(n, Granularity::Location, None, 200);
        keep_foreign_annotations(&current, &mut desired);
        let a = &desired["metadata"]["annotations"];
        assert_eq!(a["kilo.squat.ai/allowed-location-ips"], "1.0.0.0/8");
        assert_eq!(a["example.com/owner"], "team-a");
        assert_eq!(a["kilo.squat.ai/last-seen"], "200");
        assert!(a.get("kilo.squat.ai/wireguard-ip").is_none(), "{a}");
    }
}
