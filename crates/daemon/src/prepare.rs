//! Everything an Apply needs before it touches the session, done without the session lock so that
//! status, disconnect and SIGTERM are answered meanwhile: the key's shape, the policy re-check with
//! this machine's networks (read on a blocking thread: it runs `ip`), and the endpoint names,
//! resolved all at once under one deadline. An address a name resolves to is held to the policy's
//! "no routed range contains an endpoint" rule like a literal one: the range that contains it is
//! left out with a warning (the rest of the Plan applies, as for a refused range of the cluster).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use kubewire_core::lan_yield::Withdrawn;
use kubewire_core::plan::RefusalReason;
use kubewire_core::{Endpoint, Host, Plan, PresharedKey, PrivateKey, PublicKey, policy};
use kubewire_tunnel::{Config, LocalNetwork, Lookup, config_of, resolve_endpoints};

use crate::error::DaemonError;
use crate::local_networks;

/// All endpoint names of a Plan resolve within this, together.
pub const RESOLVE_DEADLINE: Duration = Duration::from_secs(5);

/// A Plan checked and resolved, ready to apply.
#[derive(Debug)]
pub struct Prepared {
    /// The Plan after the daemon's policy, less the ranges that contain a resolved endpoint and
    /// those a local network overlaps.
    pub plan: Plan,
    /// The Plan as received: what the tunnel returns to when an overlap goes.
    pub requested: Plan,
    /// The ranges a local network overlaps now ([`crate::lan_yield`]).
    pub withdrawn: Vec<Withdrawn>,
    /// What the tunnel must look like.
    pub config: Config,
    /// The laptop's networks it was checked against.
    pub local: Vec<LocalNetwork>,
    /// The tunnel's MTU: the Plan's, else the underlay's towards the endpoints less 80.
    pub mtu: kubewire_core::mtu::TunnelMtu,
    /// Names that did not resolve, ranges left out for a resolved address.
    pub warnings: Vec<String>,
    /// Reading local networks, the policy, resolving (for the log).
    pub timings: [Duration; 3],
    /// The laptop's preshared key, on every peer of `config`.
    pub preshared_key: Option<PresharedKey>,
}

/// Checks and resolves `plan` for the interfaces `own` (this connection's first, then the other
/// connections': left out of the local networks).
pub async fn prepare(
    plan: Plan,
    keys: (&str, Option<&str>),
    own: Vec<String>,
    deadline: Duration,
    lookup: &Lookup,
) -> Result<Prepared, DaemonError> {
    let (private_key, preshared_key) = keys;
    if private_key.parse::<PrivateKey>().is_err() {
        return Err(DaemonError::BadKey);
    }
    let preshared_key = preshared_key
        .map(str::parse::<PresharedKey>)
        .transpose()
        .map_err(|_| DaemonError::BadKey)?;
    let t0 = Instant::now();
    let named = read_local_networks(own).await;
    let mut prepared = prepare_for(plan, &named, t0.elapsed(), deadline, lookup).await?;
    prepared.set_preshared_key(preshared_key);
    Ok(prepared)
}

impl Prepared {
    /// Puts the laptop's preshared key on every peer (the laptop's Peer has one key for all nodes).
    pub fn set_preshared_key(&mut self, key: Option<PresharedKey>) {
        for peer in self.config.peers.values_mut() {
            peer.preshared_key.clone_from(&key);
        }
        self.preshared_key = key;
    }
}

/// This machine's networks with their interfaces, leaving out our own `own` (read on a blocking
/// thread: it runs `ip`).
pub async fn read_local_networks(own: Vec<String>) -> Vec<LocalNetwork> {
    tokio::task::spawn_blocking(move || local_networks::read_named(&own))
        .await
        .unwrap_or_default()
}

/// [`prepare`] for a Plan whose key is known good (the session's own, after a network change),
/// against the networks `named` already read (`t_local`: how long that took, for the log).
pub async fn prepare_for(
    requested: Plan,
    named: &[LocalNetwork],
    t_local: Duration,
    deadline: Duration,
    lookup: &Lookup,
) -> Result<Prepared, DaemonError> {
    let t0 = Instant::now();
    let local: Vec<IpNet> = named.iter().map(|l| l.net).collect();
    // The LAN wins, per range; the withdrawn ranges come back when the overlap goes (netmon).
    let (plan, withdrawn) = crate::lan_yield::live_plan(&requested, named)?;
    let t_policy = t0.elapsed();
    let endpoints = resolve_endpoints(&plan, deadline, lookup).await;
    let t_resolve = t0.elapsed() - t_policy;
    let (plan, left_out) = hold_resolved_to_policy(plan, &endpoints.resolved_names, &local);
    let mut config = config_of(&plan, &endpoints.addresses);
    // A range preferred over a LAN is routed in pieces more specific than the LAN's own route.
    let routes: Vec<IpNet> = config.routes.iter().copied().collect();
    config.routes = kubewire_core::prefer_tunnel::kernel_routes(&routes, &local, &plan.policy.prefer_tunnel)
        .into_iter()
        .collect();
    let mtu = crate::mtu::choose(
        plan.interface.mtu,
        endpoints.addresses.values().map(SocketAddr::ip).collect(),
    )
    .await;
    let mut warnings = endpoints.warnings;
    warnings.extend(left_out);
    Ok(Prepared {
        plan,
        requested,
        withdrawn,
        config,
        local: named.to_vec(),
        mtu,
        warnings,
        timings: [t_local, t_policy, t_resolve],
        preshared_key: None,
    })
}

/// The policy again with the resolved addresses in place of the names: ranges that contain one
/// are left out of the Plan, each with a warning. The Plan keeps its names (what the user reads).
fn hold_resolved_to_policy(
    plan: Plan,
    resolved: &HashMap<PublicKey, SocketAddr>,
    local: &[IpNet],
) -> (Plan, Vec<String>) {
    if resolved.is_empty() {
        return (plan, Vec::new());
    }
    let mut literal = plan.clone();
    for peer in &mut literal.peers {
        if let (Some(addr), Some(endpoint)) = (resolved.get(&peer.public_key), peer.endpoint.as_mut()) {
            *endpoint = Endpoint {
                host: Host::Ip(addr.ip()),
                port: endpoint.port,
            };
        }
    }
    let already = literal.refused.len();
    let Ok(mut checked) = policy::enforce(literal, local) else {
        // The same shape passed `check_policy` a moment ago; keep the Plan as it was checked.
        return (plan, Vec::new());
    };
    let named = |peer: &str| {
        plan.peers
            .iter()
            .find(|p| p.name == peer)
            .and_then(|p| p.endpoint.as_ref())
            .map_or_else(|| peer.to_owned(), ToString::to_string)
    };
    let warnings = checked
        .refused
        .iter()
        .skip(already)
        .map(|r| match &r.reason {
            RefusalReason::ContainsEndpoint { endpoint_of, address } => format!(
                "{} of {} is not routed: it contains {address}, the address endpoint {} of {endpoint_of} \
                 resolved to (it would loop)",
                r.range,
                r.peer,
                named(endpoint_of)
            ),
            other => format!("{} of {} is not routed: it {other}", r.range, r.peer),
        })
        .collect::<Vec<_>>();
    for (peer, original) in checked.peers.iter_mut().zip(&plan.peers) {
        peer.endpoint.clone_from(&original.endpoint);
    }
    (checked, warnings)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kubewire_tunnel::LookupFuture;

    use super::*;
    use crate::policy::tests::plan;

    fn lookup(answers: &'static [(&'static str, &'static str)]) -> Lookup {
        Arc::new(move |target: String| -> LookupFuture {
            let found = answers
                .iter()
                .find(|(name, _)| target.starts_with(name))
                .map(|(_, addr)| addr.parse().unwrap());
            Box::pin(async move { Ok(found.into_iter().collect()) })
        })
    }

    const KEY: &str = "cGnrXtLCfV5QzxDKu6bqlWhfjkT8VEW2PRWl0M6Vi3M=";

    #[tokio::test]
    async fn a_range_containing_a_resolved_endpoint_is_left_out_with_a_warning() {
        let p = plan(&[
            ("aws", "192.0.2.10:51820", &["10.4.0.1/32", "10.42.1.0/24"]),
            ("gcp", "gcp.example:51820", &["10.4.0.2/32", "10.42.2.0/24"]),
        ]);
        let answers = lookup(&[("gcp.example", "10.42.1.7:51820")]);
        let out = prepare(
            p,
            (KEY, None),
            vec!["kwdtest0".into()],
            Duration::from_secs(1),
            &answers,
        )
        .await
        .unwrap();
        assert_eq!(
            out.plan.routes,
            ["10.4.0.1/32", "10.4.0.2/32", "10.42.2.0/24"]
                .map(|s| s.parse::<IpNet>().unwrap())
                .to_vec()
        );
        assert_eq!(out.config.routes.len(), 3);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(
            out.warnings[0].contains("10.42.1.0/24 of aws is not routed")
                && out.warnings[0].contains("10.42.1.7, the address endpoint gcp.example:51820 of gcp"),
            "{}",
            out.warnings[0]
        );
        // The Plan keeps the name; the tunnel gets the address.
        assert_eq!(
            out.plan.peers[1].endpoint.as_ref().unwrap().to_string(),
            "gcp.example:51820"
        );
        let gcp = &out.config.peers[&out.plan.peers[1].public_key];
        assert_eq!(gcp.endpoint, Some("10.42.1.7:51820".parse().unwrap()));
    }

    #[tokio::test]
    async fn names_outside_the_ranges_change_nothing() {
        let p = plan(&[("gcp", "gcp.example:51820", &["10.4.0.2/32", "10.42.2.0/24"])]);
        let answers = lookup(&[("gcp.example", "198.51.100.7:51820")]);
        let out = prepare(
            p.clone(),
            (KEY, None),
            vec!["kwdtest0".into()],
            Duration::from_secs(1),
            &answers,
        )
        .await
        .unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(out.plan.routes, p.routes);
        assert!(out.plan.refused.is_empty());
    }

    #[tokio::test]
    async fn a_bad_key_is_refused_before_anything_is_looked_up() {
        let p = plan(&[("gcp", "gcp.example:51820", &["10.42.2.0/24"])]);
        let never: Lookup = Arc::new(|_| -> LookupFuture { panic!("looked up") });
        let err = prepare(
            p,
            ("not a key", None),
            vec!["kwdtest0".into()],
            Duration::from_secs(1),
            &never,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DaemonError::BadKey), "{err}");
    }

    #[tokio::test]
    async fn the_preshared_key_goes_on_every_peer_and_a_bad_one_is_refused() {
        let p = plan(&[
            ("aws", "198.51.100.7:51820", &["10.42.1.0/24"]),
            ("gcp", "198.51.100.8:51820", &["10.42.2.0/24"]),
        ]);
        let never: Lookup = Arc::new(|_| -> LookupFuture { panic!("looked up") });
        let psk = "RpW5BMVyqpK4lGAHUXdXRwDPHcrE2KqzXnR9iXCbWmg=";
        let out = prepare(
            p.clone(),
            (KEY, Some(psk)),
            vec!["kwdtest0".into()],
            Duration::from_secs(1),
            &never,
        )
        .await
        .unwrap();
        assert_eq!(out.config.peers.len(), 2);
        for peer in out.config.peers.values() {
            assert_eq!(
                peer.preshared_key
                    .as_ref()
                    .map(PresharedKey::to_base64)
                    .as_deref(),
                Some(psk)
            );
        }
        let err = prepare(
            p,
            (KEY, Some("short")),
            vec!["kwdtest0".into()],
            Duration::from_secs(1),
            &never,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DaemonError::BadKey), "{err}");
    }
}
