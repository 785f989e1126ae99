//! The columns kube-apiserver prints for the built-in kinds (`kubectl get`), each with the function
//! that computes its cell. Priority-1 columns are the ones `-o wide` adds.

use std::time::SystemTime;

use serde_json::Value;

use super::object::meta_str;
use super::time::age;

/// One printed column of a built-in kind.
pub struct Column {
    /// Header (kubectl upper-cases it).
    pub name: &'static str,
    /// OpenAPI type of the cells.
    pub type_: &'static str,
    /// 0 = always, 1 = `-o wide`.
    pub priority: i64,
    /// Description.
    pub description: &'static str,
    /// The cell for an object.
    pub cell: fn(&Value, SystemTime) -> Value,
}

const fn c(
    name: &'static str,
    priority: i64,
    description: &'static str,
    cell: fn(&Value, SystemTime) -> Value,
) -> Column {
    Column {
        name,
        type_: "string",
        priority,
        description,
        cell,
    }
}

/// `NAME`: every kind's first column.
pub const NAME: Column = c(
    "Name",
    0,
    "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    |o, _| Value::String(meta_str(o, "name").to_string()),
);
/// `AGE`.
pub const AGE: Column = c(
    "Age",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
    |o, now| Value::String(age(Some(meta_str(o, "creationTimestamp")), now)),
);

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn text(v: impl Into<String>) -> Value {
    let v = v.into();
    Value::String(if v.is_empty() { "<none>".to_string() } else { v })
}

fn array<'a>(obj: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn addresses(obj: &Value, type_: &str) -> Value {
    let ips: Vec<&str> = array(obj, "/status/addresses")
        .filter(|a| a.get("type").and_then(Value::as_str) == Some(type_))
        .filter_map(|a| a.get("address").and_then(Value::as_str))
        .collect();
    text(ips.join(","))
}

fn node_status(obj: &Value, _: SystemTime) -> Value {
    let ready = array(obj, "/status/conditions")
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status").and_then(Value::as_str));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    Value::String(status)
}

fn node_roles(obj: &Value, _: SystemTime) -> Value {
    let roles: Vec<&str> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    text(roles.join(","))
}

const NODES: &[Column] = &[
    NAME,
    c("Status", 0, "The status of the node", node_status),
    c("Roles", 0, "The roles of the node", node_roles),
    AGE,
    c("Version", 0, "Kubelet Version reported by the node.", |o, _| {
        text(s(o, "/status/nodeInfo/kubeletVersion"))
    }),
    c("Internal-IP", 1, "List of internal IPs.", |o, _| {
        addresses(o, "InternalIP")
    }),
    c("External-IP", 1, "List of external IPs.", |o, _| {
        addresses(o, "ExternalIP")
    }),
    c(
        "OS-Image",
        1,
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        |o, _| text(s(o, "/status/nodeInfo/osImage")),
    ),
    c(
        "Kernel-Version",
        1,
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        |o, _| text(s(o, "/status/nodeInfo/kernelVersion")),
    ),
    c(
        "Container-Runtime",
        1,
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        |o, _| text(s(o, "/status/nodeInfo/containerRuntimeVersion")),
    ),
];

fn service_ports(obj: &Value, _: SystemTime) -> Value {
    let ports: Vec<String> = array(obj, "/spec/ports")
        .map(|p| {
            let port = p.get("port").map(Value::to_string).unwrap_or_default();
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort") {
                Some(np) => format!("{port}:{np}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    text(ports.join(","))
}

fn selector(obj: &Value, _: SystemTime) -> Value {
    let sel: Vec<String> = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    text(sel.join(","))
}

const SERVICES: &[Column] = &[
    NAME,
    c("Type", 0, "The type of the service.", |o, _| {
        let t = s(o, "/spec/type");
        Value::String(if t.is_empty() { "ClusterIP" } else { t }.to_string())
    }),
    c("Cluster-IP", 0, "The cluster IP of the service.", |o, _| {
        text(s(o, "/spec/clusterIP"))
    }),
    c("External-IP", 0, "The external IP of the service.", |o, _| {
        text(s(o, "/status/loadBalancer/ingress/0/ip"))
    }),
    c("Port(s)", 0, "The ports of the service.", service_ports),
    AGE,
    c(
        "Selector",
        1,
        "Route service traffic to pods with label keys and values matching this selector.",
        selector,
    ),
];

fn endpoints(obj: &Value, _: SystemTime) -> Value {
    let mut out = Vec::new();
    for subset in array(obj, "/subsets") {
        let ports: Vec<String> = array(subset, "/ports")
            .filter_map(|p| p.get("port"))
            .map(Value::to_string)
            .collect();
        for ip in array(subset, "/addresses").filter_map(|a| a.get("ip").and_then(Value::as_str)) {
            if ports.is_empty() {
                out.push(ip.to_string());
            }
            out.extend(ports.iter().map(|port| format!("{ip}:{port}")));
        }
    }
    text(out.join(","))
}

fn slice_ports(obj: &Value, _: SystemTime) -> Value {
    let ports: Vec<String> = array(obj, "/ports")
        .filter_map(|p| p.get("port"))
        .map(Value::to_string)
        .collect();
    text(ports.join(","))
}

/// Up to three addresses and `+ N more...`, as kubectl's EndpointSlice printer.
fn slice_endpoints(obj: &Value, _: SystemTime) -> Value {
    let all: Vec<&str> = array(obj, "/endpoints")
        .flat_map(|e| array(e, "/addresses"))
        .filter_map(Value::as_str)
        .collect();
    let mut out = all.iter().take(3).copied().collect::<Vec<_>>().join(",");
    if all.len() > 3 {
        out.push_str(&format!(" + {} more...", all.len() - 3));
    }
    text(out)
}

fn pod_ready(obj: &Value, _: SystemTime) -> Value {
    let total = array(obj, "/spec/containers").count();
    let ready = array(obj, "/status/containerStatuses")
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    Value::String(format!("{ready}/{total}"))
}

fn pod_restarts(obj: &Value, _: SystemTime) -> Value {
    let n: i64 = array(obj, "/status/containerStatuses")
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum();
    Value::from(n)
}

const PODS: &[Column] = &[
    NAME,
    c(
        "Ready",
        0,
        "The aggregate readiness state of this pod for accepting traffic.",
        pod_ready,
    ),
    c(
        "Status",
        0,
        "The aggregate status of the containers in this pod.",
        |o, _| {
            let reason = s(o, "/status/reason");
            text(if reason.is_empty() {
                s(o, "/status/phase")
            } else {
                reason
            })
        },
    ),
    Column {
        type_: "integer",
        ..c(
            "Restarts",
            0,
            "The number of times the containers in this pod have been restarted.",
            pod_restarts,
        )
    },
    AGE,
    c("IP", 1, "The IP address assigned to the pod", |o, _| {
        text(s(o, "/status/podIP"))
    }),
    c("Node", 1, "The name of the node assigned to the pod", |o, _| {
        text(s(o, "/spec/nodeName"))
    }),
    c(
        "Nominated Node",
        1,
        "The name of the node nominated by the scheduler",
        |o, _| text(s(o, "/status/nominatedNodeName")),
    ),
    c("Readiness Gates", 1, "The readiness gates of the pod", |_, _| {
        text("")
    }),
];

const EVENTS: &[Column] = &[
    c(
        "Last Seen",
        0,
        "Time when the most recent occurrence of this event was recorded.",
        |o, now| {
            let t = [
                s(o, "/lastTimestamp"),
                s(o, "/eventTime"),
                meta_str(o, "creationTimestamp"),
            ]
            .into_iter()
            .find(|t| !t.is_empty());
            Value::String(age(t, now))
        },
    ),
    c("Type", 0, "Type of this event (Normal, Warning).", |o, _| {
        text(s(o, "/type"))
    }),
    c(
        "Reason",
        0,
        "Short, machine understandable string that gives the reason for this event.",
        |o, _| text(s(o, "/reason")),
    ),
    c("Object", 0, "The object this event is about.", |o, _| {
        Value::String(format!(
            "{}/{}",
            s(o, "/involvedObject/kind").to_lowercase(),
            s(o, "/involvedObject/name")
        ))
    }),
    c(
        "Message",
        0,
        "A human-readable description of the status of this operation.",
        |o, _| text(s(o, "/message")),
    ),
];

/// The columns of a built-in kind, if it has its own.
pub fn builtin(group: &str, plural: &str) -> Option<&'static [Column]> {
    const ENDPOINTS: &[Column] = &[
        NAME,
        c("Endpoints", 0, "Endpoints of the service", endpoints),
        AGE,
    ];
    const ENDPOINT_SLICES: &[Column] = &[
        NAME,
        c(
            "AddressType",
            0,
            "The address type of the endpoint slice",
            |o, _| text(s(o, "/addressType")),
        ),
        c("Ports", 0, "The ports of the endpoint slice", slice_ports),
        c(
            "Endpoints",
            0,
            "The endpoints of the endpoint slice",
            slice_endpoints,
        ),
        AGE,
    ];
    const NAMESPACES: &[Column] = &[
        NAME,
        c("Status", 0, "The status of the namespace", |o, _| {
            text(s(o, "/status/phase"))
        }),
        AGE,
    ];
    const SERVICE_CIDRS: &[Column] = &[
        NAME,
        c("CIDRs", 0, "The service CIDRs of this ServiceCIDR", |o, _| {
            let cidrs: Vec<&str> = array(o, "/spec/cidrs").filter_map(Value::as_str).collect();
            text(cidrs.join(","))
        }),
        AGE,
    ];
    const CRDS: &[Column] = &[
        NAME,
        Column {
            type_: "date",
            ..c("Created At", 0, "The time the CRD was created.", |o, _| {
                text(meta_str(o, "creationTimestamp"))
            })
        },
    ];
    Some(match (group, plural) {
        ("", "nodes") => NODES,
        ("", "services") => SERVICES,
        ("", "endpoints") => ENDPOINTS,
        ("discovery.k8s.io", "endpointslices") => ENDPOINT_SLICES,
        ("", "namespaces") => NAMESPACES,
        ("", "pods") => PODS,
        ("", "events") => EVENTS,
        ("networking.k8s.io", "servicecidrs") => SERVICE_CIDRS,
        ("apiextensions.k8s.io", "customresourcedefinitions") => CRDS,
        _ => return None,
    })
}
