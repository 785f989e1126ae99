//! The lab controller (`kubewire-lab run`, started in the background by `lab up`): builds the underlay,
//! the laptop and each cluster's network ([`LiveCluster`]: `a`, and `b` with `--clusters 2`), serves
//! each cluster's Kubernetes API, keeps `last-seen` fresh, runs a Kilo stand-in and a watcher of the
//! Services created through the API ([`api_services`]) per cluster, and
//! applies the changes asked for on the control socket. It tears everything down on `Shutdown` or
//! SIGTERM.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubewire_apiserver::{self as api, KubeconfigEntry};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::clusters::ClusterId;
use crate::control::{Request, Response};
use crate::desc::LabDescription;
use crate::live_cluster::LiveCluster;
use crate::mesh::KiloPeer;
use crate::model::{ISP_DNS_IP, LAPTOP_UNDERLAY_IP, LabSpec, Service};
use crate::net::{self, NetError, ns, procs::LabProcess};
use crate::{api_services, dns, standin};

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

pub(crate) fn api_err(e: impl std::fmt::Display) -> LabError {
    LabError::Api(e.to_string())
}

/// The running lab's state, owned by the controller's main loop: what the clusters share (the
/// underlay, the laptop, the ISP resolver) and each cluster.
pub struct Lab {
    dir: PathBuf,
    /// The ISP resolver.
    procs: Vec<LabProcess>,
    /// `a`, then `b` with `--clusters 2`.
    clusters: Vec<LiveCluster>,
}

impl Lab {
    /// Builds the network and the API objects; the API servers are started by [`Lab::start_apis`].
    fn build(dir: &Path, spec: &LabSpec) -> Result<Lab, LabError> {
        let exe = std::env::current_exe().map_err(|source| LabError::File {
            path: "/proc/self/exe".into(),
            source,
        })?;
        let mut lab = Lab {
            dir: dir.to_path_buf(),
            procs: Vec::new(),
            clusters: Vec::new(),
        };
        tracing::info!("building the underlay and the laptop namespace");
        ns::create_underlay()?;
        ns::create(ns::LAPTOP_NS, false)?;
        ns::attach_underlay(ns::LAPTOP_NS, "u-laptop", LAPTOP_UNDERLAY_IP)?;
        // The laptop's own resolv.conf, naming the lab's ISP resolver: DNS tests change this file,
        // never the host's.
        ns::write_resolv_conf(ns::LAPTOP_NS, ISP_DNS_IP)?;
        lab.start_isp_dns()?;

        for id in ClusterId::first(spec.clusters) {
            let taken = lab.underlay_ips_except(id);
            let cluster = LiveCluster::build(dir, &exe, id, spec, &taken)?;
            lab.clusters.push(cluster);
        }
        lab.write_kubeconfig()?;
        lab.publish()?;
        Ok(lab)
    }

    /// The public addresses of every node not in cluster `id`.
    fn underlay_ips_except(&self, id: ClusterId) -> Vec<Ipv4Addr> {
        self.clusters
            .iter()
            .filter(|c| c.id() != id)
            .flat_map(|c| c.cluster.underlay_ips())
            .collect()
    }

    /// One kubeconfig with a context per cluster (`kubewire-lab` current), and `a`'s CA as `ca.crt`.
    fn write_kubeconfig(&self) -> Result<(), LabError> {
        let urls: Vec<String> = self.clusters.iter().map(LiveCluster::api_url).collect();
        let contexts: Vec<String> = self.clusters.iter().map(|c| c.id().context()).collect();
        let entries: Vec<KubeconfigEntry<'_>> = self
            .clusters
            .iter()
            .zip(urls.iter().zip(&contexts))
            .map(|(c, (url, context))| {
                let (ca_pem, token) = c.credentials();
                KubeconfigEntry {
                    server_url: url,
                    ca_pem,
                    token,
                    context,
                }
            })
            .collect();
        write_private(
            &self.dir.join("kubeconfig"),
            &api::kubeconfig_yaml_contexts(&entries),
        )?;
        for c in &self.clusters {
            let home = c.id().home(&self.dir);
            std::fs::create_dir_all(&home).map_err(|source| LabError::File {
                path: home.clone(),
                source,
            })?;
            write_private(&home.join("ca.crt"), c.credentials().0)?;
        }
        Ok(())
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

    async fn start_apis(&mut self) -> Result<(), LabError> {
        for c in &mut self.clusters {
            c.start_api().await?;
        }
        Ok(())
    }

    /// The lab as `lab.json` describes it.
    fn description(&self) -> Option<LabDescription> {
        LabDescription::of_clusters(self.clusters.iter().map(|c| (c.id(), c.description())).collect())
    }

    fn publish(&self) -> Result<(), LabError> {
        let path = self.dir.join("lab.json");
        let Some(desc) = self.description() else {
            return Ok(());
        };
        desc.save(&path).map_err(|source| LabError::File { path, source })
    }

    fn refresh_last_seen(&self) {
        for c in &self.clusters {
            c.refresh_last_seen();
        }
    }

    /// Cluster `id`'s Services created through its API.
    fn set_api_services(&mut self, id: ClusterId, services: Vec<Service>) {
        let Some(c) = self.clusters.get_mut(id.index()) else {
            return;
        };
        let applied = tokio::task::block_in_place(|| c.set_api_services(services));
        if let Err(e) = applied {
            tracing::error!(cluster = %id, error = %e, "could not serve the API's Services");
        }
    }

    /// Cluster `id`'s new Peers.
    fn set_peers(&mut self, id: ClusterId, peers: Vec<KiloPeer>) {
        let Some(c) = self.clusters.get_mut(id.index()) else {
            return;
        };
        if peers == c.peers {
            return;
        }
        tracing::info!(cluster = %id, peers = peers.len(), "Kilo Peers changed; configuring leaders");
        c.peers = peers;
        let applied = tokio::task::block_in_place(|| c.reconcile());
        if let Err(e) = applied.and_then(|()| self.publish()) {
            tracing::error!(cluster = %id, error = %e, "could not apply Peers");
        }
    }

    async fn handle(&mut self, request: Request) -> Response {
        let changes = request != Request::Status;
        let result = self.apply(request).await;
        let result = match result {
            Ok(message) if changes => tokio::task::block_in_place(|| self.publish()).map(|()| message),
            other => other,
        };
        match result {
            Ok(message) => Response::ok(message, self.description()),
            Err(e) => Response::err(e.to_string()),
        }
    }

    /// Carries out one request on the cluster it is for.
    async fn apply(&mut self, request: Request) -> Result<String, LabError> {
        let (id, request) = request.target();
        match request {
            Request::Status => return Ok("lab is up".to_string()),
            Request::Shutdown => return Ok("shutting down".to_string()),
            Request::InCluster { .. } => {
                return Err(LabError::Refused(
                    "a request for a cluster names one cluster".into(),
                ));
            }
            _ => {}
        }
        let taken = self.underlay_ips_except(id);
        if let Request::AddNode { name, .. } = &request {
            self.check_new_node_name(id, name)?;
        }
        let count = self.clusters.len();
        let c = self
            .clusters
            .get_mut(id.index())
            .ok_or_else(|| no_such_cluster(id, count))?;
        match request {
            Request::AddNode { name, location } => {
                tokio::task::block_in_place(|| c.add_node(&name, &location, &taken))
            }
            Request::RemoveNode { name } => tokio::task::block_in_place(|| c.remove_node(&name)),
            Request::SetEndpoint { name, ip } => {
                tokio::task::block_in_place(|| c.set_endpoint(&name, ip, &taken))
            }
            Request::SetReady { name, ready } => tokio::task::block_in_place(|| c.set_ready(&name, ready)),
            Request::SetLeader { name } => tokio::task::block_in_place(|| c.set_leader(&name)),
            Request::AddService {
                namespace,
                name,
                cluster_ip,
            } => tokio::task::block_in_place(|| c.add_service(&namespace, &name, cluster_ip)),
            Request::RemoveService { namespace, name } => {
                tokio::task::block_in_place(|| c.remove_service(&namespace, &name))
            }
            Request::ApiStop => {
                c.stop_api().await;
                Ok("API server stopped".to_string())
            }
            Request::ApiStart => c.start_api().await.map(|()| "API server started".to_string()),
            Request::Status | Request::Shutdown | Request::InCluster { .. } => {
                Err(LabError::Refused("not a request for one cluster".into()))
            }
        }
    }

    /// Node names are the names of namespaces and interfaces on the one machine: unique across the
    /// clusters, and in `b` they start with `b-`.
    fn check_new_node_name(&self, id: ClusterId, name: &str) -> Result<(), LabError> {
        if let Some(other) = self.clusters.iter().find(|c| c.cluster.node(name).is_some()) {
            return Err(LabError::Refused(format!(
                "node {name:?} already exists (in cluster {})",
                other.id()
            )));
        }
        let prefix = id.prefix();
        if !name.starts_with(&prefix) {
            return Err(LabError::Refused(format!(
                "cluster {id}'s node names start with {prefix:?} (e.g. {prefix}ovh), so that its \
                 namespaces and interfaces stay apart from cluster a's"
            )));
        }
        Ok(())
    }

    async fn teardown(mut self) {
        for c in std::mem::take(&mut self.clusters) {
            c.stop().await;
        }
        for p in std::mem::take(&mut self.procs) {
            p.stop(Duration::from_secs(2));
        }
        let dir = self.dir.clone();
        tokio::task::block_in_place(|| net::cleanup::sweep(&dir));
        let _ = std::fs::remove_file(self.dir.join("lab.json"));
        tracing::info!("lab torn down");
    }
}

fn no_such_cluster(id: ClusterId, count: usize) -> LabError {
    LabError::Refused(format!(
        "the lab has no cluster {id}: it was brought up with {count} (`lab up --clusters 2` for a and b)"
    ))
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

/// A client of cluster `id`'s API server, through its context in the lab's kubeconfig.
async fn kube_client(kubeconfig: &Path, id: ClusterId) -> Result<kube::Client, LabError> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|source| LabError::File {
        path: kubeconfig.into(),
        source,
    })?;
    let parsed = kube::config::Kubeconfig::from_yaml(&text).map_err(api_err)?;
    let options = kube::config::KubeConfigOptions {
        context: Some(id.context()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(parsed, &options)
        .await
        .map_err(api_err)?;
    kube::Client::try_from(config).map_err(api_err)
}

/// A task per cluster running `watch` with the cluster's client (the Kilo stand-in watching Peers,
/// the watcher of Services created through the API); their reports arrive on one channel, tagged
/// with the cluster.
async fn start_per_cluster<T, F, Fut>(
    dir: &Path,
    clusters: &[ClusterId],
    watch: F,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, mpsc::Receiver<(ClusterId, T)>), LabError>
where
    T: Send + 'static,
    F: Fn(kube::Client, mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    let mut tasks = Vec::new();
    for &id in clusters {
        let client = kube_client(&dir.join("kubeconfig"), id).await?;
        let (report_tx, mut report_rx) = mpsc::channel(16);
        tasks.push(tokio::spawn(watch(client, report_tx)));
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(report) = report_rx.recv().await {
                if tx.send((id, report)).await.is_err() {
                    return;
                }
            }
        }));
    }
    Ok((tasks, rx))
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
    if let Err(e) = lab.start_apis().await {
        lab.teardown().await;
        return Err(e);
    }
    let ids: Vec<ClusterId> = lab.clusters.iter().map(LiveCluster::id).collect();
    let (standins, mut peer_rx) = match start_per_cluster(dir, &ids, standin::run).await {
        Ok(s) => s,
        Err(e) => {
            lab.teardown().await;
            return Err(e);
        }
    };
    let (watchers, mut svc_rx) = match start_per_cluster(dir, &ids, api_services::run).await {
        Ok(w) => w,
        Err(e) => {
            for task in standins {
                task.abort();
            }
            lab.teardown().await;
            return Err(e);
        }
    };

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
    let nodes: usize = lab.clusters.iter().map(|c| c.cluster.nodes.len()).sum();
    tracing::info!(clusters = lab.clusters.len(), nodes, "lab is up");

    loop {
        tokio::select! {
            _ = tick.tick() => lab.refresh_last_seen(),
            Some((id, peers)) = peer_rx.recv() => lab.set_peers(id, peers),
            Some((id, services)) = svc_rx.recv() => lab.set_api_services(id, services),
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
    for task in standins.into_iter().chain(watchers) {
        task.abort();
    }
    lab.teardown().await;
    Ok(())
}
