//! What the user side learns from the cluster before planning: that the API server answers (and its
//! clock), that Kilo is installed, the cluster DNS Service, the service CIDR and the cluster domain.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kubewire_core::ServiceSource;

use crate::clock::ApiClock;
use crate::error::ClusterError;

/// The Kilo Peer CRD's name.
pub const KILO_PEER_CRD: &str = "peers.kilo.squat.ai";
/// How long one probe of the API server may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the service CIDR came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceCidrSource {
    /// `networking.k8s.io/v1` ServiceCIDR objects.
    ServiceCidrObjects,
    /// The user's setting.
    Setting,
    /// Guessed: the /16 around the kube-dns ClusterIP.
    KubeDnsGuess,
    /// Unknown: services are not routed.
    None,
}

impl std::fmt::Display for ServiceCidrSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ServiceCidrObjects => "from the ServiceCIDR objects",
            Self::Setting => "from --service-cidr",
            Self::KubeDnsGuess => "guessed from kube-dns",
            Self::None => "unknown",
        })
    }
}

/// What discovery found.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    /// The API server's clock.
    pub clock: ApiClock,
    /// The cluster DNS Service, if found.
    pub kube_dns: Option<ServiceSource>,
    /// The service CIDR(s) to route.
    pub service_cidrs: Vec<IpNet>,
    /// Where they came from.
    pub service_cidr_source: ServiceCidrSource,
    /// The cluster DNS zone.
    pub cluster_domain: String,
    /// Where it came from.
    pub cluster_domain_source: DomainSource,
    /// Why it is a guess ([`DomainSource::Default`]): a warning, kept apart from `warnings` because
    /// `connect` first asks the cluster's DNS through the tunnel and warns only if that fails too.
    pub cluster_domain_warning: Option<String>,
    /// Things the user should know (e.g. a guessed service CIDR).
    pub warnings: Vec<String>,
}

/// Where the cluster domain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainSource {
    /// `--cluster-domain`.
    Setting,
    /// CoreDNS's Corefile (`kube-system/coredns`).
    Corefile,
    /// The cluster's DNS, asked through the tunnel (the Corefile could not be read).
    ClusterDns,
    /// None of these: `cluster.local`, with a warning.
    Default,
}

impl std::fmt::Display for DomainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Setting => "from --cluster-domain",
            Self::Corefile => "from CoreDNS's Corefile",
            Self::ClusterDns => "asked of the cluster's DNS through the tunnel",
            Self::Default => "a guess",
        })
    }
}

/// The cluster domain when nobody names one.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// The cluster domain: `setting` when given, else the zone CoreDNS's Corefile serves (checked like
/// any cluster input: a public suffix or a malformed name is refused with a warning), else
/// `cluster.local` with a warning.
pub async fn cluster_domain(
    client: &kube::Client,
    setting: Option<&str>,
) -> (String, DomainSource, Option<String>) {
    if let Some(zone) = setting {
        return (zone.to_owned(), DomainSource::Setting, None);
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let found = match maps.get_opt("coredns").await {
        Ok(map) => map
            .and_then(|m| m.data)
            .and_then(|d| d.get("Corefile").cloned())
            .and_then(|text| crate::corefile::cluster_domain(&text)),
        Err(e) => {
            tracing::debug!(error = %e, "reading kube-system/coredns");
            None
        }
    };
    match found {
        Some(zone) => match kubewire_core::check::dns::check_zone(&zone) {
            Ok(()) => (zone, DomainSource::Corefile, None),
            Err(e) => (
                DEFAULT_CLUSTER_DOMAIN.to_owned(),
                DomainSource::Default,
                Some(format!(
                    "CoreDNS's Corefile names {zone:?} as the cluster domain, which kubewire does not \
                     route ({e}); using {DEFAULT_CLUSTER_DOMAIN}: pass --cluster-domain if it is another"
                )),
            ),
        },
        None => (
            DEFAULT_CLUSTER_DOMAIN.to_owned(),
            DomainSource::Default,
            Some(format!(
                "the cluster domain was not found (no readable kube-system/coredns Corefile); using \
                 {DEFAULT_CLUSTER_DOMAIN}: pass --cluster-domain if it is another"
            )),
        ),
    }
}

/// GETs `/version` and reads the `Date` header: proves the API server answers and our credentials
/// work, and gives its clock.
pub async fn probe(client: &kube::Client, server: &str) -> Result<ApiClock, ClusterError> {
    probe_with(client, server, server, PROBE_TIMEOUT).await
}

/// [`probe`] as the first request of a connect or a `doctor`: errors name the context.
pub async fn probe_cluster(cluster: &crate::kubeconfig::ClusterClient) -> Result<ApiClock, ClusterError> {
    probe_with(&cluster.client, &cluster.server, &cluster.context, PROBE_TIMEOUT).await
}

async fn probe_with(
    client: &kube::Client,
    server: &str,
    context: &str,
    timeout: Duration,
) -> Result<ApiClock, ClusterError> {
    let unreachable = |message: String| ClusterError::Unreachable {
        url: server.to_owned(),
        message,
    };
    let request = http::Request::get("/version")
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = tokio::time::timeout(timeout, client.send(request))
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", timeout.as_secs())))?
        .map_err(|e| {
            if is_auth_error(&e) {
                ClusterError::Credentials {
                    context: context.to_owned(),
                    message: e.to_string(),
                }
            } else {
                unreachable(root_cause(&e))
            }
        })?;
    let local = SystemTime::now();
    let status = response.status();
    if status == http::StatusCode::UNAUTHORIZED {
        return Err(ClusterError::SignInNeeded {
            context: context.to_owned(),
            server: server.to_owned(),
        });
    }
    if status == http::StatusCode::FORBIDDEN {
        return Err(ClusterError::Api {
            what: format!("the API server at {server}"),
            message: format!(
                "accepted who you are but refuses this user even `GET /version` ({status}): \
                 ask a cluster admin for a role that allows it (RBAC)"
            ),
        });
    }
    let clock = response
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ApiClock::from_date_header(v, local))
        .unwrap_or_else(|| {
            tracing::warn!("the API server sent no Date header; using the local clock for readiness");
            ApiClock::default()
        });
    tracing::debug!(offset_secs = clock.offset_secs, "API server clock");
    Ok(clock)
}

/// The innermost error of a chain, the one that says what happened on the network ("Connection
/// refused (os error 111)", not hyper's "client error (Connect)").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// Whether a request failed while getting credentials (token file, exec plugin), not on the network.
fn is_auth_error(error: &kube::Error) -> bool {
    if matches!(error, kube::Error::Auth(_)) {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<kube::client::AuthError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Fails with the install instructions unless the Peer CRD exists.
pub async fn check_kilo(client: &kube::Client) -> Result<(), ClusterError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.get_opt(KILO_PEER_CRD).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ClusterError::KiloMissing),
        Err(e) => Err(ClusterError::api(format!("reading the CRD {KILO_PEER_CRD}"), &e)),
    }
}

fn service_source(svc: &Service) -> ServiceSource {
    ServiceSource {
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        cluster_ip: svc.spec.as_ref().and_then(|s| s.cluster_ip.clone()),
    }
}

/// The cluster DNS Service: `kube-system/kube-dns`, else a `kube-system` Service labelled
/// `k8s-app=kube-dns`.
pub async fn kube_dns(client: &kube::Client) -> Result<Option<ServiceSource>, ClusterError> {
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    match services.get_opt("kube-dns").await {
        Ok(Some(svc)) => return Ok(Some(service_source(&svc))),
        Ok(None) => {}
        Err(e) => return Err(ClusterError::api("reading Service kube-system/kube-dns", &e)),
    }
    let labelled = services
        .list(&ListParams::default().labels("k8s-app=kube-dns"))
        .await
        .map_err(|e| ClusterError::api("listing kube-system Services", &e))?;
    Ok(labelled.items.first().map(service_source))
}

/// The CIDRs of the `networking.k8s.io/v1` ServiceCIDR objects; `None` when the API has none.
pub async fn service_cidr_objects(client: &kube::Client) -> Result<Option<Vec<IpNet>>, ClusterError> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.k8s.io", "v1", "ServiceCIDR"),
        "servicecidrs",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
        Err(e) => return Err(ClusterError::api("listing ServiceCIDRs", &e)),
    };
    let cidrs: Vec<IpNet> = list
        .items
        .iter()
        .filter_map(|o| o.data.pointer("/spec/cidrs").and_then(|c| c.as_array()))
        .flatten()
        .filter_map(|c| c.as_str().and_then(|s| s.parse().ok()))
        .collect();
    Ok((!cidrs.is_empty()).then_some(cidrs))
}

/// The /16 (IPv6: /112) around the kube-dns address.
#[must_use]
pub fn guess_from_dns(ip: IpAddr) -> Option<IpNet> {
    let prefix = if ip.is_ipv4() { 16 } else { 112 };
    IpNet::new(ip, prefix).ok().map(|n| n.trunc())
}

/// Runs discovery after a successful probe: Kilo, kube-dns, service CIDR, cluster domain. `setting`
/// is the user's service CIDR setting (used when the API has no ServiceCIDR objects), `domain` the
/// user's `--cluster-domain` (else it is found).
pub async fn discover(
    client: &kube::Client,
    clock: ApiClock,
    setting: &[IpNet],
    domain: Option<&str>,
) -> Result<ClusterFacts, ClusterError> {
    check_kilo(client).await?;
    let kube_dns = kube_dns(client).await?;
    let mut warnings = Vec::new();
    let (cluster_domain, cluster_domain_source, cluster_domain_warning) =
        cluster_domain(client, domain).await;
    let dns_ip: Option<IpAddr> = kube_dns
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    if kube_dns.is_none() {
        warnings.push("no kube-dns Service in kube-system: cluster names will not resolve".to_owned());
    }
    let (service_cidrs, service_cidr_source) = if let Some(cidrs) = service_cidr_objects(client).await? {
        if !setting.is_empty() && setting != cidrs.as_slice() {
            warnings.push(format!(
                "the cluster's ServiceCIDR objects say {}; ignoring --service-cidr",
                join(&cidrs)
            ));
        }
        (cidrs, ServiceCidrSource::ServiceCidrObjects)
    } else if !setting.is_empty() {
        (setting.to_vec(), ServiceCidrSource::Setting)
    } else if let Some(guess) = dns_ip.and_then(guess_from_dns) {
        warnings.push(format!(
            "the service CIDR is a guess ({guess}, around the kube-dns address); pass --service-cidr if it is wrong"
        ));
        (vec![guess], ServiceCidrSource::KubeDnsGuess)
    } else {
        warnings.push("the service CIDR is unknown: services are not routed; pass --service-cidr".to_owned());
        (Vec::new(), ServiceCidrSource::None)
    };
    for w in &warnings {
        tracing::info!(warning = %w, "discovery");
    }
    Ok(ClusterFacts {
        clock,
        kube_dns,
        service_cidrs,
        service_cidr_source,
        cluster_domain,
        cluster_domain_source,
        cluster_domain_warning,
        warnings,
    })
}

fn join(cidrs: &[IpNet]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
