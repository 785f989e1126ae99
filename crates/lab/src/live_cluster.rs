//! One running cluster of the lab: its nodes' network, its cluster DNS, its Kubernetes API server
//! (with the laptop's way to it), and the changes asked of it. The lab controller
//! ([`crate::controller`]) owns one per cluster (`a`, and `b` with `--clusters 2`) next to what the
//! clusters share: the underlay, the laptop and the ISP resolver.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubewire_apiserver::{self as api, ApiServerConfig, RunningApiServer, Store, Tls};
use serde_json::Value;

use crate::clusters::ClusterId;
use crate::controller::{LabError, api_err};
use crate::desc::LabDescription;
use crate::mesh::{self, KiloPeer, NodeConfig};
use crate::model::{Cluster, LabSpec, Node, Service, WIREGUARD_PORT};
use crate::net::{self, node as netnode, ns, procs::LabProcess};
use crate::{dns, fault, keys, objects};

/// A cluster of the running lab.
pub struct LiveCluster {
    /// The lab's directory (logs, PIDs, WireGuard configurations and keys of every cluster).
    dir: PathBuf,
    exe: PathBuf,
    pub cluster: Cluster,
    applied: BTreeMap<String, NodeConfig>,
    pub peers: Vec<KiloPeer>,
    procs: Vec<LabProcess>,
    services: Vec<Service>,
    /// Services created through the API with ready EndpointSlices ([`crate::api_services`]).
    api_services: Vec<Service>,
    /// Nodes whose kube-proxy rules are installed.
    proxied: BTreeSet<String>,
    store: Store,
    api: Option<RunningApiServer>,
    api_config: ApiServerConfig,
    /// Forwards the laptop namespace's address of the API server to it.
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl LiveCluster {
    pub fn id(&self) -> ClusterId {
        self.cluster.id
    }

    pub fn api_url(&self) -> String {
        format!("https://{}", self.api_config.listen)
    }

    /// The CA of its API server (PEM) and the token its kubeconfig user carries.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.api_config.tls.ca_pem, &self.api_config.token)
    }

    fn dns_dir(&self) -> PathBuf {
        self.id().home(&self.dir).join("dns")
    }

    /// Builds cluster `id` of `spec` (its nodes' public addresses none of `taken`): nodes, DNS pod
    /// and API objects. The underlay must exist; the API server is started by
    /// [`LiveCluster::start_api`]. What was built before an error is left for the sweep.
    pub fn build(
        dir: &Path,
        exe: &Path,
        id: ClusterId,
        spec: &LabSpec,
        taken: &[Ipv4Addr],
    ) -> Result<LiveCluster, LabError> {
        let cluster = Cluster::new_in(id, spec, taken, keys::generate)?;
        let api_addr = id.api_addr();
        let tls = Tls::generate(&[api_addr.ip().to_string()]).map_err(api_err)?;
        let mut live = LiveCluster {
            dir: dir.to_path_buf(),
            exe: exe.to_path_buf(),
            cluster,
            applied: BTreeMap::new(),
            peers: Vec::new(),
            procs: Vec::new(),
            services: Vec::new(),
            api_services: Vec::new(),
            proxied: BTreeSet::new(),
            store: Store::new(),
            api: None,
            api_config: ApiServerConfig {
                listen: api_addr,
                token: hex_token(),
                tls,
            },
            forwarder: None,
        };
        for (built, node) in live.cluster.nodes.clone().into_iter().enumerate() {
            tracing::info!(cluster = %id, node = %node.name, location = %node.location, "building node");
            live.procs.extend(netnode::create(&live.dir, &node, &live.exe)?);
            if built == 0 && id != ClusterId::A {
                fault::point("half-built-b");
            }
        }
        let dns_node = live.cluster.node(&live.cluster.dns.node).cloned();
        if let Some(node) = dns_node {
            let dns_dir = live.dns_dir();
            std::fs::create_dir_all(&dns_dir).map_err(|source| LabError::File {
                path: dns_dir,
                source,
            })?;
            let conf = live.write_dns_conf(&live.cluster.services())?;
            live.procs.push(netnode::create_dns_pod(
                &live.dir,
                &node,
                &live.cluster.dns,
                &conf,
            )?);
        }
        for ns_name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            upsert(&live.store, objects::namespace(ns_name))?;
        }
        upsert(&live.store, objects::coredns_config(crate::model::CLUSTER_DOMAIN))?;
        live.store.install_kilo_crd().map_err(api_err)?;
        live.reconcile()?;
        Ok(live)
    }

    fn write_dns_conf(&self, services: &[Service]) -> Result<PathBuf, LabError> {
        let path = self.dns_dir().join("unbound.conf");
        let text = dns::unbound_conf(&self.dns_dir(), services);
        std::fs::write(&path, text).map_err(|source| LabError::File {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Starts its API server and the laptop's way to it (each if not running).
    pub async fn start_api(&mut self) -> Result<(), LabError> {
        let addr = self.api_config.listen;
        if self.api.is_none() {
            let server = api::serve(self.store.clone(), self.api_config.clone())
                .await
                .map_err(api_err)?;
            tracing::info!(cluster = %self.id(), url = %self.api_url(), "API server listening");
            self.api = Some(server);
        }
        if self.forwarder.is_none() {
            let io = |source| LabError::File {
                path: format!("/run/netns/{}", ns::LAPTOP_NS).into(),
                source,
            };
            let listener = net::forward::listen_in(ns::LAPTOP_NS, addr).map_err(io)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
            self.forwarder = Some(tokio::spawn(net::forward::forward(listener, addr)));
        }
        Ok(())
    }

    pub async fn stop_api(&mut self) {
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
            let _ = forwarder.await;
        }
        if let Some(server) = self.api.take() {
            server.shutdown().await;
            tracing::info!(cluster = %self.id(), "API server stopped");
        }
    }

    /// Brings its network, API objects and DNS in line with the model.
    pub fn reconcile(&mut self) -> Result<(), LabError> {
        self.reconcile_mesh()?;
        self.sync_services()
    }

    fn leaders(&self) -> Vec<(String, String)> {
        let prefix = crate::model::KILO_SUBNET.prefix_len();
        mesh::segments(&self.cluster.nodes, self.cluster.granularity)
            .into_iter()
            .map(|s| (s.leader, format!("{}/{prefix}", s.wireguard_ip)))
            .collect()
    }

    fn reconcile_mesh(&mut self) -> Result<(), LabError> {
        let configs = mesh::node_configs(&self.cluster.nodes, self.cluster.granularity, &self.peers);
        for node in &self.cluster.nodes {
            let empty = NodeConfig::default();
            let old = self.applied.get(&node.name).unwrap_or(&empty);
            let new = configs.get(&node.name).unwrap_or(&empty);
            if old != new {
                net::apply::apply(&self.dir, node, old, new)?;
                tracing::debug!(node = %node.name, peers = new.peers.len(), routes = new.routes.len(), "mesh applied");
            }
        }
        self.applied = configs;
        let leaders = self.leaders();
        let now = now_secs();
        for node in &self.cluster.nodes {
            let wg = leaders
                .iter()
                .find(|(n, _)| *n == node.name)
                .map(|(_, ip)| ip.as_str());
            upsert(
                &self.store,
                objects::node(node, self.cluster.granularity, wg, now),
            )?;
        }
        Ok(())
    }

    /// The lab's own Services, then those created through the API (the lab's own win a clash of
    /// namespace and name or of ClusterIP: the API server never allocates a static address the lab
    /// uses, but a user may ask for one).
    fn served_services(&self) -> Vec<Service> {
        let mut services = self.cluster.services();
        let own = services.clone();
        services.extend(
            self.api_services
                .iter()
                .filter(|a| {
                    !own.iter().any(|o| {
                        (o.namespace == a.namespace && o.name == a.name)
                            || (o.cluster_ip.is_some() && o.cluster_ip == a.cluster_ip)
                    })
                })
                .cloned(),
        );
        services
    }

    /// The Services created through the API changed: kube-proxy rules and DNS follow.
    pub fn set_api_services(&mut self, services: Vec<Service>) -> Result<(), LabError> {
        if services == self.api_services {
            return Ok(());
        }
        tracing::info!(
            cluster = %self.id(),
            services = services.len(),
            "Services from the API changed; updating kube-proxy rules and DNS"
        );
        self.api_services = services;
        self.sync_services()
    }

    fn sync_services(&mut self) -> Result<(), LabError> {
        let own = self.cluster.services();
        let services = self.served_services();
        let changed = services != self.services;
        for node in &self.cluster.nodes {
            if changed || !self.proxied.contains(&node.name) {
                net::proxy::apply(&node.netns(), &services)?;
                self.proxied.insert(node.name.clone());
            }
        }
        if !changed {
            return Ok(());
        }
        for svc in &own {
            upsert(&self.store, objects::service(svc))?;
            upsert(&self.store, objects::endpoints(svc))?;
        }
        if !self.services.is_empty() {
            self.write_dns_conf(&services)?;
            self.reload_dns();
        }
        self.services = services;
        Ok(())
    }

    fn reload_dns(&self) {
        let name = self.cluster.dns.process();
        if let Some(p) = self.procs.iter().find(|p| p.name == name) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid()),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
    }

    /// This cluster as `lab.json` describes it.
    pub fn description(&self) -> LabDescription {
        LabDescription::new(&self.dir, &self.api_url(), &self.cluster, &self.leaders())
    }

    pub fn refresh_last_seen(&self) {
        let now = now_secs().to_string();
        for node in self.cluster.nodes.iter().filter(|n| n.fresh) {
            let res = self.store.update("v1", "Node", None, &node.name, |obj| {
                if let Some(a) = obj
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.insert(format!("{}/last-seen", objects::KILO), Value::String(now.clone()));
                }
            });
            if let Err(e) = res {
                tracing::warn!(node = %node.name, error = %e, "could not refresh last-seen");
            }
        }
    }

    fn stop_procs_of(&mut self, names: &[String]) {
        let (stop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.procs)
            .into_iter()
            .partition(|p| names.contains(&p.name));
        self.procs = keep;
        for p in stop {
            p.stop(Duration::from_secs(2));
        }
    }

    /// A new node; its public address none of `taken`.
    pub fn add_node(&mut self, name: &str, location: &str, taken: &[Ipv4Addr]) -> Result<String, LabError> {
        let node = self
            .cluster
            .add_node_avoiding(name, location, keys::generate(), taken)?
            .clone();
        match netnode::create(&self.dir, &node, &self.exe) {
            Ok(procs) => self.procs.extend(procs),
            Err(e) => {
                let _ = self.remove_node(name);
                return Err(e.into());
            }
        }
        self.reconcile()?;
        Ok(format!(
            "node {name} joined in {location} with pod CIDR {}",
            node.pod_cidr()
        ))
    }

    pub fn remove_node(&mut self, name: &str) -> Result<String, LabError> {
        if self.cluster.dns.node == name {
            return Err(LabError::Refused(format!(
                "node {name} runs the cluster DNS pod and cannot be removed"
            )));
        }
        let node: Node = self.cluster.remove_node(name)?;
        self.stop_procs_of(&[node.wg_ifname(), node.pod_name()]);
        netnode::delete(&node)?;
        self.applied.remove(name);
        self.proxied.remove(name);
        let _ = self.store.delete("v1", "Node", None, name);
        self.reconcile()?;
        Ok(format!("node {name} removed"))
    }

    /// Node `name`'s public address becomes `ip`, which none of `taken` may be.
    pub fn set_endpoint(&mut self, name: &str, ip: Ipv4Addr, taken: &[Ipv4Addr]) -> Result<String, LabError> {
        if taken.contains(&ip) {
            return Err(crate::model::ModelError::BadUnderlayIp(ip).into());
        }
        self.cluster.check_new_underlay_ip(ip)?;
        let node = self.cluster.node_mut(name)?;
        netnode::move_underlay(node, ip)?;
        node.underlay_ip = ip;
        self.reconcile()?;
        Ok(format!("node {name} now has endpoint {ip}:{WIREGUARD_PORT}"))
    }

    pub fn set_ready(&mut self, name: &str, ready: bool) -> Result<String, LabError> {
        self.cluster.node_mut(name)?.fresh = ready;
        self.reconcile()?;
        Ok(format!(
            "node {name} is {}",
            if ready {
                "ready"
            } else {
                "stale (last-seen two minutes old)"
            }
        ))
    }

    pub fn set_leader(&mut self, name: &str) -> Result<String, LabError> {
        let location = self.cluster.node_mut(name)?.location.clone();
        for n in self.cluster.nodes.iter_mut().filter(|n| n.location == location) {
            n.leader_annotation = n.name == name;
        }
        self.reconcile()?;
        Ok(format!("node {name} is annotated as the leader of {location}"))
    }

    pub fn add_service(&mut self, namespace: &str, name: &str, ip: Ipv4Addr) -> Result<String, LabError> {
        self.cluster.add_service(namespace, name, ip)?;
        upsert(&self.store, objects::namespace(namespace))?;
        self.reconcile()?;
        Ok(format!("service {namespace}/{name} added at {ip}"))
    }

    pub fn remove_service(&mut self, namespace: &str, name: &str) -> Result<String, LabError> {
        self.cluster.remove_service(namespace, name)?;
        for kind in ["Service", "Endpoints"] {
            let _ = self.store.delete("v1", kind, Some(namespace), name);
        }
        let builtin = ["default", "kube-system", "kube-public", "kube-node-lease"].contains(&namespace);
        if !builtin && self.cluster.services().iter().all(|s| s.namespace != namespace) {
            let _ = self.store.delete("v1", "Namespace", None, namespace);
        }
        self.reconcile()?;
        Ok(format!("service {namespace}/{name} removed"))
    }

    /// Stops its API server and its processes (the sweep then removes its namespaces).
    pub async fn stop(mut self) {
        self.stop_api().await;
        for p in std::mem::take(&mut self.procs) {
            p.stop(Duration::from_secs(2));
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex_token() -> String {
    rand::random::<[u8; 24]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates the object, or replaces its labels, spec, status and subsets and the annotations the lab
/// owns (see [`objects::keep_foreign_annotations`]).
fn upsert(store: &Store, mut obj: Value) -> Result<(), LabError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    if store
        .get(&api_version, &kind, namespace.as_deref(), &name)
        .is_none()
    {
        store.create(obj).map_err(api_err)?;
        return Ok(());
    }
    if let Some(current) = store.get(&api_version, &kind, namespace.as_deref(), &name) {
        objects::keep_foreign_annotations(&current, &mut obj);
    }
    let unchanged = store
        .get(&api_version, &kind, namespace.as_deref(), &name)
        .is_some_and(|cur| {
            [
                "/metadata/labels",
                "/metadata/annotations",
                "/spec",
                "/status",
                "/subsets",
            ]
            .iter()
            .all(|p| cur.pointer(p) == obj.pointer(p))
        });
    if unchanged {
        return Ok(());
    }
    store
        .update(&api_version, &kind, namespace.as_deref(), &name, |cur| {
            for key in ["labels", "annotations"] {
                if let Some(v) = obj.pointer(&format!("/metadata/{key}")) {
                    cur["metadata"][key] = v.clone();
                }
            }
            for key in ["spec", "status", "subsets"] {
                if let Some(v) = obj.get(key) {
                    cur[key] = v.clone();
                }
            }
        })
        .map_err(api_err)?;
    Ok(())
}
