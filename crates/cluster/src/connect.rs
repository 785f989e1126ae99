//! Connecting, step by step: kubeconfig → API reachable (and its clock) → Kilo present (kube-dns,
//! service CIDR) → key pair → Peer registered (address chosen by the core, stable for the key) → first
//! Plan → applied by the sink; then the controller follows the cluster. Each step is reported with its
//! timing on the event channel.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kubewire_core::{Plan, PlanError, PlanRequest, PresharedKey, Settings, Snapshot, plan};
use kubewire_ipc::SessionInfo;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::ApiClock;
use crate::controller::{self, ControllerConfig, ControllerHandle, ControllerStart};
use crate::daemon_events::DaemonSignal;
use crate::discovery::{self, ClusterFacts};
use crate::error::ClusterError;
use crate::events::{ControllerEvent, Step};
use crate::keys::{KeyPair, KeySource, KeyStore};
use crate::kubeconfig::{self, ClusterClient};
use crate::registration::{self, Identity, OwnPeer, peers_api};
use crate::sink::{PlanSink, PlanUpdate};
use crate::watch::{node_source, peer_source};

/// What to connect to and how.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// Planner settings (`service_cidrs` is the fallback when the API has no ServiceCIDR objects;
    /// `dns_zone` is the cluster domain; `namespace` defaults to the context's).
    pub settings: Settings,
    /// Whether `settings.namespace` was given explicitly.
    pub namespace_given: bool,
    /// Whether `settings.dns_zone` was given explicitly (`--cluster-domain`); else it is found.
    pub cluster_domain_given: bool,
    /// The laptop's tunnel address (`--address`); else its Peer's, else one chosen from the key.
    pub address: Option<IpNet>,
    /// Where keys are kept.
    pub key_store: KeyStore,
    /// User and host (name and labels of the Peer).
    pub identity: Identity,
    /// The laptop's own networks (ranges overlapping them are refused).
    pub local_networks: Vec<IpNet>,
    /// Keep the Peer if connecting fails after registering it.
    pub keep_peer: bool,
    /// Make a preshared key when the laptop has none for this cluster (`--psk`); a stored one is
    /// always used.
    pub psk: bool,
    /// The connection's name (`--name`); else the context made DNS-safe. Its interface follows
    /// from it ([`kubewire_core::connection::interface_name`]).
    pub name: Option<String>,
    /// Controller timings (the quiet time after a Plan, periodic re-plan).
    pub debounce: Duration,
    /// Periodic probe and re-plan.
    pub replan_every: Duration,
    /// The context's remembered `--prefer-tunnel` ranges, and changes to them.
    pub preferences: crate::preferences::PreferenceChanges,
}

impl ConnectOptions {
    /// Defaults for the current user and host, keys in the default store.
    pub fn new() -> Result<Self, ClusterError> {
        Ok(Self {
            kubeconfig: None,
            context: None,
            name: None,
            settings: Settings::default(),
            namespace_given: false,
            cluster_domain_given: false,
            address: None,
            key_store: KeyStore::default_store()?,
            identity: Identity::current(),
            local_networks: Vec::new(),
            keep_peer: false,
            psk: false,
            debounce: crate::controller::QUIET_TIME,
            replan_every: Duration::from_secs(5),
            preferences: crate::preferences::PreferenceChanges::default(),
        })
    }
}

/// A live connection.
pub struct Connection {
    /// The controller following the cluster.
    pub controller: ControllerHandle,
    /// The kubeconfig context.
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// The Peer's name.
    pub peer_name: String,
    /// What discovery found.
    pub facts: ClusterFacts,
    /// The first Plan (applied).
    pub plan: Plan,
    /// Where the key is kept.
    pub key_source: KeySource,
    /// The API client (for what follows a connect: [`crate::expose::prune_stale`]).
    pub client: kube::Client,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("controller", &self.controller)
            .field("context", &self.context)
            .field("server", &self.server)
            .field("peer_name", &self.peer_name)
            .field("facts", &self.facts)
            .field("plan", &self.plan)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

struct Steps {
    events: mpsc::UnboundedSender<ControllerEvent>,
    last: Instant,
}

impl Steps {
    fn done(&mut self, step: Step, detail: String) {
        let took = self.last.elapsed();
        self.last = Instant::now();
        tracing::info!(
            step = step.label(),
            took_ms = took.as_millis() as u64,
            "connect step"
        );
        let _ = self.events.send(ControllerEvent::Step { step, took, detail });
    }
}

/// The public ranges `plan` leaves out (the cluster asked for them, the user did not allow them), as
/// warnings, leaving out those `before` already left out.
pub(crate) fn public_refusals(plan: &Plan, before: Option<&Plan>) -> Vec<String> {
    let public =
        |r: &&kubewire_core::plan::Refusal| r.reason == kubewire_core::plan::RefusalReason::PublicRange;
    plan.refused
        .iter()
        .filter(public)
        .filter(|r| before.is_none_or(|b| !b.refused.iter().filter(public).any(|o| o.range == r.range)))
        .map(ToString::to_string)
        .collect()
}

fn plan_error(error: PlanError) -> ClusterError {
    match error {
        PlanError::NoReadyNodes { total, skipped } => ClusterError::Plan(format!(
            "none of the {total} nodes is a ready Kilo node ({}); is Kilo running on them?",
            skipped
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => ClusterError::Plan(other.to_string()),
    }
}

/// Reads Nodes, Peers and Namespaces once into `snapshot` (Namespaces only when allowed: without
/// them the resolver sends no `<svc>.<ns>` name to the cluster).
pub async fn list_into(client: &kube::Client, snapshot: &mut Snapshot) -> Result<(), ClusterError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::api("listing Nodes", &e))?;
    nodes.items.iter().for_each(|n| {
        snapshot.upsert_node(&node_source(n));
    });
    let peers = peers_api(client)
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::api("listing Kilo Peers", &e))?;
    peers.items.iter().for_each(|p| {
        snapshot.upsert_peer(&peer_source(p));
    });
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.list(&ListParams::default()).await {
        Ok(list) => {
            snapshot.set_namespaces(Some(list.items.iter().map(ResourceExt::name_any).collect()));
        }
        Err(error) => {
            tracing::info!(%error, "cannot list Namespaces; <svc>.<ns> names stay off until the watch has them")
        }
    }
    Ok(())
}

/// Everything known before registering: the cluster, its facts, the key, a snapshot and the request.
pub struct Prepared {
    /// The cluster's client.
    pub cluster: ClusterClient,
    /// The API server's clock.
    pub clock: ApiClock,
    /// What discovery found.
    pub facts: ClusterFacts,
    /// The laptop's key pair.
    pub keys: KeyPair,
    /// Where it is kept.
    pub key_source: KeySource,
    /// Nodes, Peers and kube-dns as listed now.
    pub snapshot: Snapshot,
    /// The planner's request (no address fixed yet).
    pub request: PlanRequest,
}

/// The context's remembered `--prefer-tunnel` ranges, updated by this connection's `--prefer-tunnel`
/// and `--lan-wins` (kept only when `remember`: a preview changes nothing), added to `settings`.
fn prefer_tunnel(
    options: &ConnectOptions,
    context: &str,
    remember: bool,
    settings: &mut Settings,
    steps: &mut Steps,
) {
    let changes = &options.preferences;
    let Some(store) = &changes.store else { return };
    let kept = if remember && (!changes.add.is_empty() || !changes.remove.is_empty()) {
        match crate::preferences::update(store, context, changes) {
            Ok(kept) => kept,
            Err(e) => {
                let _ = steps.events.send(ControllerEvent::Warning {
                    message: format!("could not remember --prefer-tunnel in {}: {e}", store.display()),
                });
                crate::preferences::load(store, context).changed(changes)
            }
        }
    } else {
        crate::preferences::load(store, context)
    };
    for range in kept.prefer_tunnel {
        if !settings.prefer_tunnel.contains(&range) {
            settings.prefer_tunnel.push(range);
        }
    }
    settings.prefer_tunnel.sort();
    if !settings.prefer_tunnel.is_empty() {
        let ranges: Vec<String> = settings.prefer_tunnel.iter().map(ToString::to_string).collect();
        let _ = steps.events.send(ControllerEvent::Warning {
            message: format!(
                "{} routed into the tunnel even where a local network overlaps (remembered for context {context}; \
                 `kubewire connect --lan-wins CIDR` lets the LAN win again)",
                ranges.join(", ")
            ),
        });
    }
}

/// How long the first request waits on an interactive credential plugin before `connect` says
/// that it is waiting for the user to sign in.
const SIGN_IN_NOTICE_AFTER: Duration = Duration::from_secs(2);

/// Steps 1-4: kubeconfig, API reachable, Kilo present, key; then one list of Nodes and Peers. With
/// `create_key` false a missing key is replaced by a throwaway one (nothing is stored).
/// `connect` passes `probe_domain`: a cluster domain that is only a guess is then asked of the
/// cluster's DNS once the tunnel is up, and its warning waits for that answer.
async fn prepare(
    options: &ConnectOptions,
    steps: &mut Steps,
    create_key: bool,
    probe_domain: bool,
) -> Result<Prepared, ClusterError> {
    let loaded = kubeconfig::load(options.kubeconfig.as_deref())?;
    let cluster = {
        let client = loaded.client(options.context.as_deref());
        tokio::pin!(client);
        match loaded.exec_plugin(options.context.as_deref()) {
            // An interactive credential plugin may be waiting for the user (a browser, a device
            // code): say so, rather than sit silent for minutes.
            Some(plugin) if plugin.interactive => tokio::select! {
                built = &mut client => built,
                () = tokio::time::sleep(SIGN_IN_NOTICE_AFTER) => {
                    let _ = steps.events.send(ControllerEvent::WaitingForSignIn {
                        command: plugin.command,
                    });
                    client.await
                }
            },
            _ => client.await,
        }?
    };
    steps.done(
        Step::Kubeconfig,
        format!("context {} ({})", cluster.context, cluster.server),
    );

    let clock = discovery::probe_cluster(&cluster).await?;
    steps.done(
        Step::ApiReachable,
        format!("{} (clock offset {} s)", cluster.server, clock.offset_secs),
    );

    let facts = discovery::discover(
        &cluster.client,
        clock,
        &options.settings.service_cidrs,
        options
            .cluster_domain_given
            .then_some(options.settings.dns_zone.as_str()),
    )
    .await?;
    let domain_warning = facts.cluster_domain_warning.iter().filter(|_| !probe_domain);
    for message in facts.warnings.iter().chain(domain_warning) {
        let _ = steps.events.send(ControllerEvent::Warning {
            message: message.clone(),
        });
    }
    let dns = facts
        .kube_dns
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_else(|| "none".into());
    steps.done(
        Step::KiloPresent,
        format!(
            "kube-dns {dns}, service CIDR {} ({})",
            facts
                .service_cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            facts.service_cidr_source
        ),
    );

    let (keys, key_source) = if create_key {
        options.key_store.load_or_create(&cluster.server).await?
    } else {
        match options.key_store.load(&cluster.server).await? {
            Some(found) => found,
            None => (KeyPair::generate()?, KeySource::Ephemeral),
        }
    };
    steps.done(
        Step::Key,
        match &key_source {
            KeySource::Keyring => "in the OS keyring".to_owned(),
            KeySource::File(p) => format!("in {}", p.display()),
            KeySource::Ephemeral => "none stored yet (a throwaway one for this preview)".to_owned(),
        },
    );

    let mut snapshot = Snapshot::new();
    if let Some(dns) = &facts.kube_dns {
        snapshot.upsert_service(dns.clone());
    }
    list_into(&cluster.client, &mut snapshot).await?;
    let mut settings = options.settings.clone();
    settings.service_cidrs.clone_from(&facts.service_cidrs);
    prefer_tunnel(options, &cluster.context, create_key, &mut settings, steps);
    settings.dns_zone.clone_from(&facts.cluster_domain);
    settings.interface_name =
        kubewire_core::connection::interface_name(&connection_name(options, &cluster.context));
    if !options.namespace_given
        && let Some(ns) = &cluster.namespace
    {
        settings.namespace.clone_from(ns);
    }
    let mut request = PlanRequest::new(keys.public);
    request.peer_name = Some(options.identity.peer_name());
    // Whether the laptop has (or makes) a preshared key: a preview judges the Peer's by it.
    request.preshared_key =
        options.psk || matches!(options.key_store.load_psk(&cluster.server).await, Ok(Some(_)));
    request.local_networks.clone_from(&options.local_networks);
    request.address = options.address;
    request.settings = settings;
    Ok(Prepared {
        cluster,
        clock,
        facts,
        keys,
        key_source,
        snapshot,
        request,
    })
}

/// Steps 1-4 with the laptop's key created and stored when there is none yet (for `enroll`, whose
/// Peer must hold the key a later connect uses); registers nothing.
pub async fn prepare_with_key(
    options: &ConnectOptions,
    events: mpsc::UnboundedSender<ControllerEvent>,
) -> Result<Prepared, ClusterError> {
    let mut steps = Steps {
        events,
        last: Instant::now(),
    };
    prepare(options, &mut steps, true, false).await
}

/// The laptop's preshared key for the cluster at `server`: the stored one, else a new one with
/// `options.psk`, else none.
pub async fn preshared_key(
    options: &ConnectOptions,
    server: &str,
) -> Result<Option<kubewire_core::PresharedKey>, ClusterError> {
    if options.psk {
        options.key_store.load_or_create_psk(server).await.map(Some)
    } else {
        options.key_store.load_psk(server).await
    }
}

/// The "plan" error of the core as the user side's error.
pub(crate) fn plan_failed(error: PlanError) -> ClusterError {
    plan_error(error)
}

/// The Plan this laptop would get, without registering or storing anything (for `graph` and
/// `doctor`).
pub async fn preview(
    options: &ConnectOptions,
    events: mpsc::UnboundedSender<ControllerEvent>,
) -> Result<(Prepared, Result<Plan, ClusterError>), ClusterError> {
    let mut steps = Steps {
        events,
        last: Instant::now(),
    };
    let prepared = prepare(options, &mut steps, false, false).await?;
    let plan = plan(&prepared.snapshot, &prepared.request, prepared.clock.now_unix()).map_err(plan_error);
    Ok((prepared, plan))
}

/// The Peer holding the laptop's public key in `snapshot`, and whether it was enrolled by an admin.
async fn peer_with_key(
    client: &kube::Client,
    snapshot: &Snapshot,
    public: &kubewire_core::PublicKey,
) -> Result<Option<(String, bool)>, ClusterError> {
    let Some(name) = snapshot
        .peers()
        .find(|p| p.public_key == *public)
        .map(|p| p.name.clone())
    else {
        return Ok(None);
    };
    let enrolled = registration::is_enrolled(client, &name).await?;
    Ok(Some((name, enrolled)))
}

/// The laptop's Peer: registered by kubewire at the address the core chooses (its Peer's when it
/// exists, else one from the key), or one someone else provided with the laptop's key, used as it is
/// (also when registering is refused with 403 and such a Peer exists). Adds the Peer to `snapshot`
/// and fixes name and address in the request. The preshared key `psk` goes on a Peer kubewire
/// registers; with a provided Peer it is used only when that Peer has one too. Returns the key used.
async fn own_peer(
    options: &ConnectOptions,
    client: &kube::Client,
    keys: (&kubewire_core::PublicKey, Option<PresharedKey>),
    snapshot: &mut Snapshot,
    request: &mut PlanRequest,
    clock: &ApiClock,
    steps: &mut Steps,
) -> Result<(OwnPeer, IpNet, Option<PresharedKey>), ClusterError> {
    let (public, mut psk) = keys;
    let ours = options.identity.peer_name();
    let with_key = peer_with_key(client, snapshot, public).await?;
    let mut own = registration::own_peer(&ours, with_key.as_ref().map(|(n, e)| (n.as_str(), *e)));
    let provided_has_psk =
        |snapshot: &Snapshot, name: &str| snapshot.peers().any(|p| p.name == name && p.has_preshared_key);
    if let OwnPeer::Provided(name) = &own {
        request.peer_name = Some(name.clone());
        if !provided_has_psk(snapshot, name) {
            psk = None;
        }
    }
    request.preshared_key = psk.is_some();
    let first = plan(snapshot, request, clock.now_unix()).map_err(plan_error)?;
    let address = first.interface.address;
    request.address = Some(address);
    if own == OwnPeer::Register {
        let keepalive = request.settings.persistent_keepalive;
        let now = u64::try_from(clock.now_unix()).unwrap_or_default();
        let spec = registration::PeerSpec::connected(address, keepalive, now, psk.clone());
        match registration::register(client, &ours, &options.identity, public, &spec).await {
            Ok(()) => {}
            Err(ClusterError::PeerForbidden { .. }) if with_key.is_some() => {
                let name = with_key.map(|(n, _)| n).unwrap_or_default();
                let _ = steps.events.send(ControllerEvent::Warning {
                    message: format!(
                        "this user may not update Kilo Peer {name}; it holds the laptop's key, so it is used as it is"
                    ),
                });
                if !provided_has_psk(snapshot, &name) {
                    psk = None;
                }
                request.preshared_key = psk.is_some();
                request.peer_name = Some(name.clone());
                own = OwnPeer::Provided(name);
            }
            Err(e) => return Err(e),
        }
        if own == OwnPeer::Register {
            snapshot.upsert_peer(&kubewire_core::PeerSource {
                name: ours,
                allowed_ips: vec![address.to_string()],
                public_key: public.to_string(),
                persistent_keepalive: i64::from(keepalive),
                has_preshared_key: psk.is_some(),
                ..kubewire_core::PeerSource::default()
            });
        }
    }
    Ok((own, address, psk))
}

/// The connection's name: `--name` made DNS-safe, else the context's.
#[must_use]
pub fn connection_name(options: &ConnectOptions, context: &str) -> String {
    kubewire_core::connection::connection_name(options.name.as_deref().unwrap_or(context))
}

/// The "plan computed" step's detail.
fn planned_detail(plan: &kubewire_core::Plan) -> String {
    format!(
        "{} peers, {} routes, {} of {} nodes ready, service gateway {}",
        plan.peers.len(),
        plan.routes.len(),
        plan.cluster.ready_nodes,
        plan.cluster.nodes,
        plan.service_gateway
            .as_ref()
            .map_or("none", |g| g.leader.as_str())
    )
}

/// Connects and starts following the cluster.
pub async fn connect<S: PlanSink>(
    options: ConnectOptions,
    mut sink: S,
    events: mpsc::UnboundedSender<ControllerEvent>,
    daemon: Option<mpsc::Receiver<DaemonSignal>>,
) -> Result<Connection, ClusterError> {
    let mut steps = Steps {
        events: events.clone(),
        last: Instant::now(),
    };
    let Prepared {
        cluster,
        clock,
        mut facts,
        keys,
        key_source,
        mut snapshot,
        mut request,
    } = prepare(&options, &mut steps, true, true).await?;
    let psk = preshared_key(&options, &cluster.server).await?;
    let (own, address, psk) = own_peer(
        &options,
        &cluster.client,
        (&keys.public, psk),
        &mut snapshot,
        &mut request,
        &clock,
        &mut steps,
    )
    .await?;
    let (peer_name, owns_peer) = match &own {
        OwnPeer::Register => (options.identity.peer_name(), true),
        OwnPeer::Provided(name) => (name.clone(), false),
    };
    steps.done(
        Step::PeerRegistered,
        if owns_peer {
            format!("{peer_name} at {address}")
        } else {
            format!("{peer_name} at {address} (provided by an admin; used as it is)")
        },
    );

    let cleanup = async |client: &kube::Client| {
        if owns_peer && !options.keep_peer {
            let _ = registration::unregister(client, &peer_name).await;
        }
    };
    let plan = match plan(&snapshot, &request, clock.now_unix()) {
        Ok(plan) => plan,
        Err(e) => {
            cleanup(&cluster.client).await;
            return Err(plan_error(e));
        }
    };
    for message in public_refusals(&plan, None) {
        let _ = steps.events.send(ControllerEvent::Warning { message });
    }
    // A preshared key on one side only: the cluster drops every handshake of this laptop.
    for d in plan
        .diagnostics
        .iter()
        .filter(|d| d.field.as_deref() == Some("spec.presharedKey"))
    {
        let _ = steps.events.send(ControllerEvent::Warning {
            message: d.to_string(),
        });
    }
    steps.done(Step::Planned, planned_detail(&plan));

    let session = SessionInfo {
        context: cluster.context.clone(),
        cluster: cluster.server.clone(),
        peer_name: peer_name.clone(),
        name: connection_name(&options, &cluster.context),
    };
    let mut update = PlanUpdate {
        plan,
        private_key: keys.private.clone(),
        preshared_key: psk.clone(),
        session: session.clone(),
    };
    if let Err(e) = sink.apply(&update).await {
        // Refused as overlapping another connection: that one may be this same cluster, whose
        // Peer this is (the same name, key and address); deleting it would cut that connection.
        let overlap = matches!(
            &e,
            crate::sink::SinkError::Daemon(kubewire_ipc::ClientError::Daemon {
                code: kubewire_ipc::ErrorCode::Overlap,
                ..
            })
        );
        if !overlap {
            cleanup(&cluster.client).await;
        }
        return Err(match e {
            crate::sink::SinkError::Daemon(d) => ClusterError::Daemon(d),
            other => ClusterError::Plan(other.to_string()),
        });
    }
    steps.done(Step::Applied, format!("interface {}", update.plan.interface.name));
    crate::domain_probe::settle(
        &mut facts,
        &mut request,
        &mut update,
        &snapshot,
        &mut sink,
        &steps.events,
    )
    .await;

    let mut config = ControllerConfig::new(request, keys.private, session);
    config.debounce = options.debounce;
    config.replan_every = options.replan_every;
    config.owns_peer = owns_peer;
    config.preshared_key = psk;
    config.registration = owns_peer.then(|| controller::Registration {
        identity: options.identity.clone(),
        address,
        clock,
    });
    let controller = controller::spawn(
        ControllerStart {
            client: cluster.client.clone(),
            server: cluster.server.clone(),
            snapshot,
            clock,
            applied: Some(update.plan.clone()),
            daemon,
            last_step: steps.last,
        },
        config,
        sink,
        events,
    );
    Ok(Connection {
        client: cluster.client.clone(),
        controller,
        context: cluster.context,
        server: cluster.server,
        peer_name,
        facts,
        plan: update.plan,
        key_source,
    })
}
