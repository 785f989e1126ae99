//! Server-side printing: `meta.k8s.io/v1 Table` responses for `kubectl get`, with the columns
//! kube-apiserver uses for the built-in kinds, CRD `additionalPrinterColumns` for custom resources,
//! and NAME/AGE otherwise. Priority-1 columns are the ones `-o wide` adds.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::object::meta_str;
use super::resources::ResourceType;
use super::time::age;

/// What each row's `object` holds (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// From the query parameter value.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A `PartialObjectMetadata` for an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn col(name: &str, type_: &str, priority: i64, description: &str) -> Value {
    let mut c =
        json!({"name": name, "type": type_, "format": "", "description": description, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

const NAME_DESC: &str = "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", 0, NAME_DESC);
    let age_col = col("Age", "string", 0, AGE_DESC);
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "nodes") => vec![
            name,
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            age_col,
            col("Version", "string", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "string", 1, "List of internal IPs."),
            col("External-IP", "string", 1, "List of external IPs."),
            col(
                "OS-Image",
                "string",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        ("", "services") => vec![
            name,
            col("Type", "string", 0, "The type of the service."),
            col("Cluster-IP", "string", 0, "The cluster IP of the service."),
            col("External-IP", "string", 0, "The external IP of the service."),
            col("Port(s)", "string", 0, "The ports of the service."),
            age_col,
            col(
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        ("", "endpoints") => vec![
            name,
            col("Endpoints", "string", 0, "Endpoints of the service"),
            age_col,
        ],
        ("", "namespaces") => vec![
            name,
            col("Status", "string", 0, "The status of the namespace"),
            age_col,
        ],
        ("networking.k8s.io", "servicecidrs") => vec![
            name,
            col("CIDRs", "string", 0, "The service CIDRs of this ServiceCIDR"),
            age_col,
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![name, col("Created At", "date", 0, AGE_DESC)]
        }
        _ if !rt.printer_columns.is_empty() => std::iter::once(name)
            .chain(rt.printer_columns.iter().map(|c| {
                let type_ = if c.type_ == "date" {
                    "date"
                } else {
                    c.type_.as_str()
                };
                col(&c.name, type_, c.priority, &c.description)
            }))
            .collect(),
        _ => vec![name, age_col],
    }
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".to_string() } else { v }
}

fn node_addresses(obj: &Value, type_: &str) -> String {
    let ips: Vec<&str> = obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|x| x.get("type").and_then(Value::as_str) == Some(type_))
                .filter_map(|x| x.get("address").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    or_none(ips.join(","))
}

fn node_status(obj: &Value) -> String {
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status").and_then(Value::as_str));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(obj: &Value) -> String {
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
    or_none(roles.join(","))
}

fn service_ports(obj: &Value) -> String {
    let ports: Vec<String> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    let port = p.get("port").map(Value::to_string).unwrap_or_default();
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    match p.get("nodePort") {
                        Some(np) => format!("{port}:{np}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    or_none(ports.join(","))
}

fn selector(obj: &Value) -> String {
    let sel: Vec<String> = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    or_none(sel.join(","))
}

fn endpoints(obj: &Value) -> String {
    let mut out = Vec::new();
    for subset in obj.get("subsets").and_then(Value::as_array).into_iter().flatten() {
        let ports: Vec<String> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|p| p.get("port"))
                    .map(Value::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for addr in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = addr.get("ip").and_then(Value::as_str).unwrap_or_default();
            if ports.is_empty() {
                out.push(ip.to_string());
            }
            for port in &ports {
                out.push(format!("{ip}:{port}"));
            }
        }
    }
    or_none(out.join(","))
}

/// Renders a value found by a printer column's JSONPath.
fn render(v: Option<&Value>, type_: &str, now: SystemTime) -> Value {
    match (v, type_) {
        (None | Some(Value::Null), _) => Value::Null,
        (Some(Value::String(t)), "date") => Value::String(age(Some(t), now)),
        (Some(Value::Array(items)), _) => Value::String(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))), _) => v.clone(),
        (Some(v), _) => Value::String(v.to_string()),
    }
}

fn cells(rt: &ResourceType, obj: &Value, now: SystemTime) -> Vec<Value> {
    let name = Value::String(meta_str(obj, "name").to_string());
    let age_cell = Value::String(age(Some(meta_str(obj, "creationTimestamp")), now));
    let st = |v: String| Value::String(v);
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "nodes") => vec![
            name,
            st(node_status(obj)),
            st(node_roles(obj)),
            age_cell,
            st(s(obj, "/status/nodeInfo/kubeletVersion").to_string()),
            st(node_addresses(obj, "InternalIP")),
            st(node_addresses(obj, "ExternalIP")),
            st(or_none(s(obj, "/status/nodeInfo/osImage").to_string())),
            st(or_none(s(obj, "/status/nodeInfo/kernelVersion").to_string())),
            st(or_none(
                s(obj, "/status/nodeInfo/containerRuntimeVersion").to_string(),
            )),
        ],
        ("", "services") => {
            let type_ = s(obj, "/spec/type");
            vec![
                name,
                st(if type_.is_empty() {
                    "ClusterIP".to_string()
                } else {
                    type_.to_string()
                }),
                st(or_none(s(obj, "/spec/clusterIP").to_string())),
                st(or_none(s(obj, "/status/loadBalancer/ingress/0/ip").to_string())),
                st(service_ports(obj)),
                age_cell,
                st(selector(obj)),
            ]
        }
        ("", "endpoints") => vec![name, st(endpoints(obj)), age_cell],
        ("", "namespaces") => vec![name, st(s(obj, "/status/phase").to_string()), age_cell],
        ("networking.k8s.io", "servicecidrs") => {
            let cidrs: Vec<&str> = obj
                .pointer("/spec/cidrs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            vec![name, st(cidrs.join(",")), age_cell]
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![name, st(meta_str(obj, "creationTimestamp").to_string())]
        }
        _ if !rt.printer_columns.is_empty() => std::iter::once(name)
            .chain(rt.printer_columns.iter().map(|c| {
                let pointer = c.json_path.replace('.', "/");
                render(obj.pointer(&pointer), &c.type_, now)
            }))
            .collect(),
        _ => vec![name, age_cell],
    }
}

/// A Table of `objs`, with `list_meta` (resourceVersion, continue) as its metadata.
pub fn table(rt: &ResourceType, objs: &[Value], include: IncludeObject, list_meta: Value) -> Value {
    let now = SystemTime::now();
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(rt, obj, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(obj),
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(rt),
        "rows": rows,
    })
}
