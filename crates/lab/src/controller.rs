//! The lab controller (`kubewire-lab run`, started in the background by `lab up`): builds the cluster's
//! network, serves its Kubernetes API, keeps `last-seen` fresh, runs the Kilo stand-in, and applies the
//! changes asked for on the control socket. It tears everything down on `Shutdown` or SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubewire_apiserver::{self as api, ApiServerConfig, RunningApiServer, Store, Tls};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::control::{Request, Response};
use crate::desc::LabDescription;
use crate::mesh::{self, KiloPeer, NodeConfig};
use crate::model::{API_ADDR, Cluster, DnsPod, ISP_DNS_IP, LAPTOP_UNDERLAY_IP, LabSpec, Node, Service};
use crate::net::{self, NetError, node as netnode, ns, procs::LabProcess};
use crate::{dns, keys, objects, standin};

/// How often `kilo.squat.ai/last-seen` is refreshed (Kilo's agent: 30 s; readiness window 60 s).
pub const LAST_SEEN_PERIOD: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Cmd(#[from] net::cmd::CmdError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("API server: {0}")]
    Api(String),
    #[error("lab file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn api_err(e: impl std::fmt::Display) -> LabError {
    LabError::Api(e.to_string())
}

/// The running lab's state, owned by the controller's main loop.
pub struct Lab {
    dir: PathBuf,
    exe: PathBuf,
    cluster: Cluster,
    applied: BTreeMap<String, NodeConfig>,
    peers: Vec<KiloPeer>,
    procs: Vec<LabProcess>,
    services: Vec<Service>,
    /// Nodes whose kube-proxy rules are installed.
    proxied: std::collections::BTreeSet<String>,
    store: Store,
    api: Option<RunningApiServer>,
    api_config: ApiServerConfig,
    /// Forwards the laptop namespace's 127.0.0.1:6443 to the API server.
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Lab {
    fn api_url(&self) -> String {
        format!("https://{}", self.api_config.listen)
    }

    fn dns_dir(&self) -> PathBuf {
        self.dir.join("dns")
    }

    /// Builds the network and the API objects; the API server is started by [`Lab::start_api`].
    fn build(dir: &Path, spec: &LabSpec) -> Result<Lab, LabError> {
        let exe = std::env::current_exe().map_err(|source| LabError::File {
            path: "/proc/self/exe".into(),
            source,
        })?;
        let cluster = Cluster::new(spec, keys::generate)?;
        let tls = Tls::generate(&[API_ADDR.ip().to_string()]).map_err(api_err)?;
        let token = hex_token();
        let mut lab = Lab {
            dir: dir.to_path_buf(),
            exe,
            cluster,
            applied: BTreeMap::new(),
            peers: Vec::new(),
            procs: Vec::new(),
            services: Vec::new(),
            proxied: Default::default(),
            store: Store::new(),
            api: None,
            api_config: ApiServerConfig {
                listen: API_ADDR,
                token,
                tls,
            },
            forwarder: None,
        };
        lab.write_kubeconfig()?;

        tracing::info!("building the underlay and the laptop namespace");
        ns::create_underlay()?;
        ns::create(ns::LAPTOP_NS, false)?;
        ns::attach_underlay(ns::LAPTOP_NS, "u-laptop", LAPTOP_UNDERLAY_IP)?;
        // The laptop's own resolv.conf, naming the lab's ISP resolver: DNS tests change this file,
        // never the host's.
        ns::write_resolv_conf(ns::LAPTOP_NS, ISP_DNS_IP)?;
        lab.start_isp_dns()?;

        for node in lab.cluster.nodes.clone() {
            tracing::info!(node = %node.name, location = %node.location, "building node");
            lab.procs.extend(netnode::create(&lab.dir, &node, &lab.exe)?);
        }
        let dns_node = lab.cluster.node(&lab.cluster.dns.node).cloned();
        if let Some(node) = dns_node {
            std::fs::create_dir_all(lab.dns_dir()).map_err(|source| LabError::File {
                path: lab.dns_dir(),
                source,
            })?;
            let conf = lab.write_dns_conf()?;
            lab.procs
                .push(netnode::create_dns_pod(&lab.dir, &node, &lab.cluster.dns, &conf)?);
        }

        for ns_name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            upsert(&lab.store, objects::namespace(ns_name))?;
        }
        upsert(&lab.store, objects::coredns_config(crate::model::CLUSTER_DOMAIN))?;
        lab.store.install_kilo_crd().map_err(api_err)?;
        lab.reconcile()?;
        Ok(lab)
    }

    fn write_kubeconfig(&self) -> Result<(), LabError> {
        let path = self.dir.join("kubeconfig");
        let text = api::kubeconfig_yaml(
            &self.api_url(),
            &self.api_config.tls.ca_pem,
            &self.api_config.token,
            "kubewire-lab",
        );
        write_private(&path, &text)?;
        write_private(&self.dir.join("ca.crt"), &self.api_config.tls.ca_pem)
    }

    /// The ISP resolver: unbound in its own namespace on the underlay.
    fn start_isp_dns(&mut self) -> Result<(), LabError> {
        let dir = self.dir.join("isp");
        std::fs::create_dir_all(&dir).map_err(|source| LabError::File {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join("unbound.conf");
        std::fs::write(&path, dns::isp_unbound_conf(&dir)).map_err(|source| LabError::File {
            path: path.clone(),
            source,
        })?;
        ns::create(ns::ISP_NS, false)?;
        ns::attach_underlay(ns::ISP_NS, "u-isp", ISP_DNS_IP)?;
        let conf = path.to_string_lossy();
        let proc = net::procs::spawn_in(
            &self.dir,
            "isp-dns",
            ns::ISP_NS,
            "unbound",
            &["-d", "-c", &conf],
            &[],
        )
        .map_err(net::NetError::from)?;
        self.procs.push(proc);
        Ok(())
    }

    fn write_dns_conf(&self) -> Result<PathBuf, LabError> {
        let path = self.dns_dir().join("unbound.conf");
        let text = dns::unbound_conf(&self.dns_dir(), &self.cluster.services());
        std::fs::write(&path, text).map_err(|source| LabError::File {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    async fn start_api(&mut self) -> Result<(), LabError> {
        if self.api.is_none() {
            let server = api::serve(self.store.clone(), self.api_config.clone())
                .await
                .map_err(api_err)?;
            tracing::info!(url = %self.api_url(), "API server listening");
            self.api = Some(server);
        }
        if self.forwarder.is_none() {
            let io = |source| LabError::File {
                path: format!("/run/netns/{}", ns::LAPTOP_NS).into(),
                source,
            };
            let listener = net::forward::listen_in(ns::LAPTOP_NS, API_ADDR).map_err(io)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
            self.forwarder = Some(tokio::spawn(net::forward::forward(listener, API_ADDR)));
        }
        Ok(())
    }

    async fn stop_api(&mut self) {
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
            let _ = forwarder.await;
        }
        if let Some(server) = self.api.take() {
            server.shutdown().await;
            tracing::info!("API server stopped");
        }
    }

    /// Brings network, API objects, DNS and `lab.json` in line with the model.
    fn reconcile(&mut self) -> Result<(), LabError> {
        self.reconcile_mesh()?;
        self.sync_services()?;
        self.publish()
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

    fn sync_services(&mut self) -> Result<(), LabError> {
        let services = self.cluster.services();
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
        for svc in &services {
            upsert(&self.store, objects::service(svc))?;
            upsert(&self.store, objects::endpoints(svc))?;
        }
        if !self.services.is_empty() {
            self.write_dns_conf()?;
            self.reload_dns();
        }
        self.services = services;
        Ok(())
    }

    fn reload_dns(&self) {
        if let Some(p) = self.procs.iter().find(|p| p.name == DnsPod::NAME) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid()),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
    }

    fn description(&self) -> LabDescription {
        LabDescription::new(&self.dir, &self.api_url(), &self.cluster, &self.leaders())
    }

    fn publish(&self) -> Result<(), LabError> {
        let path = self.dir.join("lab.json");
        self.description()
            .save(&path)
            .map_err(|source| LabError::File { path, source })
    }

    fn refresh_last_seen(&self) {
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

    async fn handle(&mut self, request: Request) -> Response {
        let result = match request {
            Request::Status => Ok("lab is up".to_string()),
            Request::AddNode { name, location } => {
                tokio::task::block_in_place(|| self.add_node(&name, &location))
            }
            Request::RemoveNode { name } => tokio::task::block_in_place(|| self.remove_node(&name)),
            Request::SetEndpoint { name, ip } => tokio::task::block_in_place(|| {
                self.cluster.check_new_underlay_ip(ip)?;
                let node = self.cluster.node_mut(&name)?;
                netnode::move_underlay(node, ip)?;
                node.underlay_ip = ip;
                self.reconcile()?;
                Ok(format!(
                    "node {name} now has endpoint {ip}:{}",
                    crate::model::WIREGUARD_PORT
                ))
            }),
            Request::SetReady { name, ready } => tokio::task::block_in_place(|| {
                self.cluster.node_mut(&name)?.fresh = ready;
                self.reconcile()?;
                Ok(format!(
                    "node {name} is {}",
                    if ready {
                        "ready"
                    } else {
                        "stale (last-seen two minutes old)"
                    }
                ))
            }),
            Request::SetLeader { name } => tokio::task::block_in_place(|| {
                let location = self.cluster.node_mut(&name)?.location.clone();
                for n in self.cluster.nodes.iter_mut().filter(|n| n.location == location) {
                    n.leader_annotation = n.name == name;
                }
                self.reconcile()?;
                Ok(format!("node {name} is annotated as the leader of {location}"))
            }),
            Request::AddService {
                namespace,
                name,
                cluster_ip,
            } => tokio::task::block_in_place(|| self.add_service(&namespace, &name, cluster_ip)),
            Request::RemoveService { namespace, name } => {
                tokio::task::block_in_place(|| self.remove_service(&namespace, &name))
            }
            Request::ApiStop => {
                self.stop_api().await;
                Ok("API server stopped".to_string())
            }
            Request::ApiStart => self.start_api().await.map(|()| "API server started".to_string()),
            Request::Shutdown => Ok("shutting down".to_string()),
        };
        match result {
            Ok(message) => Response::ok(message, Some(self.description())),
            Err(e) => Response::err(e.to_string()),
        }
    }

    fn add_node(&mut self, name: &str, location: &str) -> Result<String, LabError> {
        let node = self.cluster.add_node(name, location, keys::generate())?.clone();
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

    fn add_service(
        &mut self,
        namespace: &str,
        name: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<String, LabError> {
        self.cluster.add_service(namespace, name, ip)?;
        upsert(&self.store, objects::namespace(namespace))?;
        self.reconcile()?;
        Ok(format!("service {namespace}/{name} added at {ip}"))
    }

    fn remove_service(&mut self, namespace: &str, name: &str) -> Result<String, LabError> {
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

    fn remove_node(&mut self, name: &str) -> Result<String, LabError> {
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

    async fn teardown(mut self) {
        self.stop_api().await;
        for p in std::mem::take(&mut self.procs) {
            p.stop(Duration::from_secs(2));
        }
        let dir = self.dir.clone();
        tokio::task::block_in_place(|| net::cleanup::sweep(&dir));
        let _ = std::fs::remove_file(self.dir.join("lab.json"));
        tracing::info!("lab torn down");
    }
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

fn write_private(path: &Path, text: &str) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|source| LabError::File {
        path: path.into(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| LabError::File {
        path: path.into(),
        source,
    })
}

fn hex_token() -> String {
    rand::random::<[u8; 24]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type Pending = (Request, oneshot::Sender<Response>);

async fn serve_control(listener: UnixListener, tx: mpsc::Sender<Pending>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<Request>(&line) {
                Ok(request) => {
                    let (reply, wait) = oneshot::channel();
                    if tx.send((request, reply)).await.is_err() {
                        return;
                    }
                    wait.await
                        .unwrap_or_else(|_| Response::err("the lab is shutting down"))
                }
                Err(e) => Response::err(format!("bad request: {e}")),
            };
            if let Ok(mut text) = serde_json::to_string(&response) {
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            }
        });
    }
}

async fn kube_client(kubeconfig: &Path) -> Result<kube::Client, LabError> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|source| LabError::File {
        path: kubeconfig.into(),
        source,
    })?;
    let parsed = kube::config::Kubeconfig::from_yaml(&text).map_err(api_err)?;
    let config = kube::Config::from_custom_kubeconfig(parsed, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(api_err)?;
    kube::Client::try_from(config).map_err(api_err)
}

/// Runs the lab until asked to stop. Errors while building are returned after cleaning up.
pub async fn run(dir: &Path, spec: &LabSpec) -> Result<(), LabError> {
    std::fs::create_dir_all(dir).map_err(|source| LabError::File {
        path: dir.into(),
        source,
    })?;
    let built = tokio::task::block_in_place(|| Lab::build(dir, spec));
    let mut lab = match built {
        Ok(lab) => lab,
        Err(e) => {
            tokio::task::block_in_place(|| net::cleanup::sweep(dir));
            return Err(e);
        }
    };
    if let Err(e) = lab.start_api().await {
        lab.teardown().await;
        return Err(e);
    }
    let client = match kube_client(&dir.join("kubeconfig")).await {
        Ok(c) => c,
        Err(e) => {
            lab.teardown().await;
            return Err(e);
        }
    };
    let (peer_tx, mut peer_rx) = mpsc::channel(16);
    let standin = tokio::spawn(standin::run(client, peer_tx));

    let socket = dir.join("control.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(source) => {
            lab.teardown().await;
            return Err(LabError::File { path: socket, source });
        }
    };
    let (req_tx, mut req_rx) = mpsc::channel::<Pending>(8);
    let control = tokio::spawn(serve_control(listener, req_tx));
    let mut tick = tokio::time::interval(LAST_SEEN_PERIOD);
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|source| {
            LabError::File {
                path: "signal".into(),
                source,
            }
        })?;
    tracing::info!(nodes = lab.cluster.nodes.len(), "lab is up");

    loop {
        tokio::select! {
            _ = tick.tick() => lab.refresh_last_seen(),
            Some(peers) = peer_rx.recv() => {
                if peers != lab.peers {
                    tracing::info!(peers = peers.len(), "Kilo Peers changed; configuring leaders");
                    lab.peers = peers;
                    if let Err(e) = tokio::task::block_in_place(|| lab.reconcile()) {
                        tracing::error!(error = %e, "could not apply Peers");
                    }
                }
            }
            Some((request, reply)) = req_rx.recv() => {
                let shutdown = request == Request::Shutdown;
                let response = lab.handle(request).await;
                let _ = reply.send(response);
                if shutdown { break; }
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    control.abort();
    standin.abort();
    lab.teardown().await;
    Ok(())
}
