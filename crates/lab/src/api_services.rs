//! Services created through the lab's Kubernetes API (by `kubewire expose`, `kubectl`, a test),
//! served as k3s would: the lab watches Services and `discovery.k8s.io/v1` EndpointSlices of every
//! namespace with the real `kube` client, and every Service with a ClusterIP whose EndpointSlices
//! (label `kubernetes.io/service-name`) have ready IPv4 addresses becomes a [`Service`] of the model:
//! kube-proxy DNAT on every node and cluster DNS records. Endpoints may be outside the pod range (a
//! Kilo Peer's address, e.g. a laptop's): Kilo routes Peer addresses to every node.
//!
//! Ports are matched by name and protocol, as kube-proxy does: the Service port `tcp-8080` is sent
//! to the endpoint port of the slices' port named `tcp-8080`; a Service port no slice names has no
//! endpoints and gets no rule. Simplification: one endpoint port per Service port (the first slice's).
//! The lab's own Services (upserted by the lab into the store) are told apart by the controller by
//! their namespace and name (see `LiveCluster::served_services`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::model::{Service, ServicePort};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `(namespace, name)`.
type Key = (String, String);

fn service_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Service"), "services")
}

fn slice_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("discovery.k8s.io", "v1", "EndpointSlice"),
        "endpointslices",
    )
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn items<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(pointer).and_then(Value::as_array).into_iter().flatten()
}

fn protocol(port: &Value) -> String {
    match port.get("protocol").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => "TCP".to_string(),
    }
}

fn port_number(port: &Value) -> Option<u16> {
    port.get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
}

/// The ready IPv4 addresses of `slices` (an endpoint with no `ready` condition counts as ready, as
/// in kube-proxy), deduplicated, in order.
fn ready_addresses(slices: &[&Value]) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for slice in slices.iter().filter(|s| str_at(s, "/addressType") == "IPv4") {
        for ep in items(slice, "/endpoints") {
            if ep.pointer("/conditions/ready").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            for ip in items(ep, "/addresses").filter_map(|a| a.as_str()?.parse().ok()) {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The model Service of one API Service (`svc`, a whole object) and its EndpointSlices, if it is
/// served: a ClusterIP, at least one Service port named in a slice, at least one ready address.
pub fn served(svc: &Value, slices: &[&Value]) -> Option<Service> {
    let cluster_ip: Ipv4Addr = str_at(svc, "/spec/clusterIP").parse().ok()?;
    let ports: Vec<ServicePort> = items(svc, "/spec/ports")
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            let proto = protocol(p);
            let target_port = slices
                .iter()
                .flat_map(|s| items(s, "/ports"))
                .find(|sp| {
                    sp.get("name").and_then(Value::as_str).unwrap_or_default() == name
                        && protocol(sp) == proto
                })
                .and_then(port_number)?;
            Some(ServicePort {
                name: name.to_string(),
                port: port_number(p)?,
                target_port,
                protocol: proto,
            })
        })
        .collect();
    let addresses = ready_addresses(slices);
    if ports.is_empty() || addresses.is_empty() {
        return None;
    }
    let slice_name = slices
        .first()
        .map(|s| str_at(s, "/metadata/name"))
        .unwrap_or_default();
    Some(Service {
        name: str_at(svc, "/metadata/name").to_string(),
        namespace: str_at(svc, "/metadata/namespace").to_string(),
        cluster_ip: Some(cluster_ip),
        ports,
        endpoints: addresses
            .into_iter()
            .map(|ip| (slice_name.to_string(), ip))
            .collect(),
    })
}

/// The Service an EndpointSlice belongs to (its `kubernetes.io/service-name` label).
fn service_of(slice: &Value) -> Option<&str> {
    slice
        .pointer("/metadata/labels")?
        .get(SERVICE_NAME_LABEL)?
        .as_str()
}

/// Every served Service of `services`, with the slices that name it.
pub fn served_all(services: &BTreeMap<Key, Value>, slices: &BTreeMap<Key, Value>) -> Vec<Service> {
    services
        .iter()
        .filter_map(|((ns, name), svc)| {
            let mine: Vec<&Value> = slices
                .iter()
                .filter(|((slice_ns, _), s)| slice_ns == ns && service_of(s) == Some(name.as_str()))
                .map(|(_, s)| s)
                .collect();
            served(svc, &mine)
        })
        .collect()
}

/// The objects of one watched resource, as the watcher reports them.
#[derive(Default)]
struct Mirror {
    current: BTreeMap<Key, Value>,
    initial: BTreeMap<Key, Value>,
}

fn key_value(obj: &DynamicObject) -> (Key, Value) {
    let key = (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    );
    (key, serde_json::to_value(obj).unwrap_or(Value::Null))
}

impl Mirror {
    /// Applies one watcher event; whether `current` changed.
    fn on(&mut self, what: &str, event: Result<watcher::Event<DynamicObject>, watcher::Error>) -> bool {
        match event {
            Ok(watcher::Event::Init) => {
                self.initial.clear();
                false
            }
            Ok(watcher::Event::InitApply(obj)) => {
                let (k, v) = key_value(&obj);
                self.initial.insert(k, v);
                false
            }
            Ok(watcher::Event::InitDone) => {
                self.current = std::mem::take(&mut self.initial);
                true
            }
            Ok(watcher::Event::Apply(obj)) => {
                let (k, v) = key_value(&obj);
                self.current.insert(k, v);
                true
            }
            Ok(watcher::Event::Delete(obj)) => {
                let (k, _) = key_value(&obj);
                self.current.remove(&k).is_some()
            }
            Err(e) => {
                tracing::debug!(resource = what, error = %e, "watch interrupted; retrying");
                false
            }
        }
    }
}

enum Watched {
    Service(Result<watcher::Event<DynamicObject>, watcher::Error>),
    Slice(Result<watcher::Event<DynamicObject>, watcher::Error>),
}

/// Watches Services and EndpointSlices until the channel closes, sending the served Services after
/// every change.
pub async fn run(client: kube::Client, tx: mpsc::Sender<Vec<Service>>) {
    let services: Api<DynamicObject> = Api::all_with(client.clone(), &service_resource());
    let slices: Api<DynamicObject> = Api::all_with(client, &slice_resource());
    let services = watcher(services, watcher::Config::default())
        .default_backoff()
        .map(Watched::Service);
    let slices = watcher(slices, watcher::Config::default())
        .default_backoff()
        .map(Watched::Slice);
    let mut stream = futures::stream::select(services, slices).boxed();
    let mut svc_mirror = Mirror::default();
    let mut slice_mirror = Mirror::default();
    let mut last: Option<Vec<Service>> = None;
    while let Some(event) = stream.next().await {
        let changed = match event {
            Watched::Service(e) => svc_mirror.on("services", e),
            Watched::Slice(e) => slice_mirror.on("endpointslices", e),
        };
        if !changed {
            continue;
        }
        let now = served_all(&svc_mirror.current, &slice_mirror.current);
        if last.as_ref() == Some(&now) {
            continue;
        }
        tracing::debug!(served = now.len(), "Services from the API changed");
        last = Some(now.clone());
        if tx.send(now).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn laptop_service() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "dev",
                         "labels": {"app.kubernetes.io/managed-by": "kubewire"}},
            "spec": {"clusterIP": "10.43.1.0", "ports": [
                {"name": "tcp-8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
            ]},
        })
    }

    fn laptop_slice(ready: bool) -> Value {
        json!({
            "metadata": {"name": "web-kubewire", "namespace": "dev",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.4.0.100"], "conditions": {"ready": ready}}],
            "ports": [{"name": "tcp-8080", "port": 18080, "protocol": "TCP"}],
        })
    }

    fn maps(slices: Vec<Value>) -> (BTreeMap<Key, Value>, BTreeMap<Key, Value>) {
        let svcs = BTreeMap::from([(("dev".to_string(), "web".to_string()), laptop_service())]);
        let slices = slices
            .into_iter()
            .map(|s| (("dev".to_string(), str_at(&s, "/metadata/name").to_string()), s))
            .collect();
        (svcs, slices)
    }

    #[test]
    fn a_laptop_service_is_served_on_the_ports_its_slice_names() {
        let (svcs, slices) = maps(vec![laptop_slice(true)]);
        let served = served_all(&svcs, &slices);
        assert_eq!(served.len(), 1);
        let web = &served[0];
        assert_eq!(web.cluster_ip, Some(Ipv4Addr::new(10, 43, 1, 0)));
        assert_eq!(web.endpoints[0].1, Ipv4Addr::new(10, 4, 0, 100));
        assert_eq!(web.ports.len(), 1, "metrics has no endpoint port: no rule");
        assert_eq!((web.ports[0].port, web.ports[0].target_port), (8080, 18080));
        let rules = crate::net::proxy::nat_rules(&served);
        assert!(
            rules.contains(
                "-d 10.43.1.0/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.4.0.100:18080"
            ),
            "{rules}"
        );
        assert!(!rules.contains("--dport 9090"), "{rules}");
        let records = crate::dns::records(&served);
        assert!(records.contains(&"web.dev.svc.cluster.local. 5 IN A 10.43.1.0".to_string()));
    }

    #[test]
    fn no_ready_address_no_slice_or_no_cluster_ip_is_not_served() {
        let (svcs, slices) = maps(vec![laptop_slice(false)]);
        assert!(served_all(&svcs, &slices).is_empty());
        let (svcs, _) = maps(vec![]);
        assert!(served_all(&svcs, &BTreeMap::new()).is_empty());
        let mut other = laptop_slice(true);
        other["metadata"]["labels"]["kubernetes.io/service-name"] = json!("api");
        let (svcs, slices) = maps(vec![other]);
        assert!(served_all(&svcs, &slices).is_empty());
        let mut headless = laptop_service();
        headless["spec"]["clusterIP"] = json!("None");
        let slice = laptop_slice(true);
        assert!(served(&headless, &[&slice]).is_none());
    }
}
