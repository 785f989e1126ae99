//! What an Apply does, decided without I/O: from the sessions held now and the request (its
//! connection name, its caller, the daemon's own check of its Plan), one [`Transition`]: create the
//! interface, re-create it, update it in place, or refuse with the reason the client reads. The
//! checks come in this order: the owner (of this connection), for a new connection the limit, its
//! interface name and its ranges (a range that overlaps another connection's is refused: translation
//! is not built yet), a wedged backend, the Plan's check, a disconnect that came while the Plan was
//! prepared.

use ipnet::IpNet;
use kubewire_core::PublicKey;
use kubewire_tunnel::InterfaceSpec;

use crate::error::DaemonError;

/// How many connections (clusters) may be up at once.
pub const MAX_SESSIONS: usize = 16;

/// A session as the decision sees it.
#[derive(Clone, Debug)]
pub struct Held<'a> {
    /// Its connection name (the kubeconfig context).
    pub name: &'a str,
    pub owner_uid: u32,
    /// Its interface's name as the OS knows it (macOS: `utunN`).
    pub interface: &'a str,
    pub spec: &'a InterfaceSpec,
    pub public_key: PublicKey,
    pub wedged: bool,
    /// The ranges its controller asked for (before a LAN took any).
    pub routes: &'a [IpNet],
}

/// The interface a checked Plan asks for.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub spec: InterfaceSpec,
    pub public_key: PublicKey,
}

/// One Apply, as the decision sees it.
#[derive(Debug)]
pub struct Request<'a> {
    /// The connection it is for.
    pub name: &'a str,
    /// Its caller (already admitted to the socket: root or the group).
    pub uid: u32,
    /// The interface and the ranges its Plan asks for (as sent).
    pub asks: Asks<'a>,
    /// The daemon's own check of the Plan (key, policy, endpoints): the interface it asks for, or
    /// why it is refused.
    pub checked: Result<Wanted, DaemonError>,
    /// A disconnect came while the Plan was being prepared.
    pub disconnected_meanwhile: bool,
}

/// What a Plan asks for that other connections may hold already.
#[derive(Clone, Copy, Debug)]
pub struct Asks<'a> {
    pub interface: &'a str,
    pub routes: &'a [IpNet],
}

/// What to do.
#[derive(Debug)]
pub enum Transition {
    /// No session of this name: create the interface.
    Create,
    /// The interface settings changed (name, address, MTU, port, key): remove it, create it anew.
    Recreate,
    /// The same interface: bring its peers and routes to the Plan.
    Update,
    /// Nothing changes.
    Refuse(DaemonError),
}

/// Whether `uid` may apply a Plan of connection `name` that `asks` for an interface and ranges now:
/// checked before the Plan is prepared (nothing is looked up for a refused caller) and again in
/// [`decide`].
pub fn admit(held: &[Held<'_>], name: &str, uid: u32, asks: Asks<'_>) -> Result<(), DaemonError> {
    let same = held.iter().find(|h| h.name == name);
    if let Some(h) = same {
        if uid != 0 && uid != h.owner_uid {
            return Err(DaemonError::NotOwner {
                owner: h.owner_uid,
                action: "change it",
            });
        }
        if h.wedged {
            // BoringTun wedges for good (its threads hold the device); only a new process frees it.
            return Err(DaemonError::Wedged {
                interface: h.interface.to_owned(),
            });
        }
    }
    let others = || held.iter().filter(|h| h.name != name);
    if same.is_none() && held.len() >= MAX_SESSIONS {
        return Err(DaemonError::TooManyConnections {
            held: others().map(|h| h.name.to_owned()).collect(),
            requested: name.to_owned(),
        });
    }
    if let Some(other) = others().find(|h| h.interface == asks.interface || h.spec.name == asks.interface) {
        return Err(DaemonError::InterfaceTaken {
            interface: asks.interface.to_owned(),
            other: other.name.to_owned(),
            requested: name.to_owned(),
        });
    }
    for other in others() {
        let ranges = overlapping(asks.routes, other.routes);
        if !ranges.is_empty() {
            return Err(DaemonError::Overlap {
                other: other.name.to_owned(),
                requested: name.to_owned(),
                ranges,
            });
        }
    }
    Ok(())
}

/// The ranges of `asked` that overlap one of `held` (sorted, once each).
#[must_use]
pub fn overlapping(asked: &[IpNet], held: &[IpNet]) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = asked
        .iter()
        .filter(|a| {
            held.iter()
                .any(|h| a.contains(&h.network()) || h.contains(&a.network()))
        })
        .copied()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The transition for `request` given the sessions `held`.
#[must_use]
pub fn decide(held: &[Held<'_>], request: Request<'_>) -> Transition {
    if let Err(e) = admit(held, request.name, request.uid, request.asks) {
        return Transition::Refuse(e);
    }
    let wanted = match request.checked {
        Ok(w) => w,
        Err(e) => return Transition::Refuse(e),
    };
    if request.disconnected_meanwhile {
        return Transition::Refuse(DaemonError::DisconnectedMeanwhile);
    }
    match held.iter().find(|h| h.name == request.name) {
        None => Transition::Create,
        // A different interface (name, address, port, key) means a new interface; peers never do,
        // nor does the MTU (set in place).
        Some(h) if !same_interface(h.spec, &wanted.spec) || h.public_key != wanted.public_key => {
            Transition::Recreate
        }
        Some(_) => Transition::Update,
    }
}

/// The same interface but for its MTU.
fn same_interface(a: &InterfaceSpec, b: &InterfaceSpec) -> bool {
    a.name == b.name && a.address == b.address && a.listen_port == b.listen_port
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, mtu: u16) -> InterfaceSpec {
        InterfaceSpec {
            name: name.into(),
            address: "10.4.0.100/32".parse().unwrap(),
            mtu,
            listen_port: None,
        }
    }

    const KEY: PublicKey = PublicKey::from_bytes([9; 32]);

    const ROUTES: &[IpNet] = &[];

    fn held<'a>(name: &'a str, owner_uid: u32, spec: &'a InterfaceSpec) -> Held<'a> {
        Held {
            name,
            owner_uid,
            interface: &spec.name,
            spec,
            public_key: KEY,
            wedged: false,
            routes: ROUTES,
        }
    }

    fn request<'a>(name: &'a str, uid: u32, spec: &'a InterfaceSpec) -> Request<'a> {
        Request {
            name,
            uid,
            asks: Asks {
                interface: &spec.name,
                routes: ROUTES,
            },
            checked: Ok(Wanted {
                spec: spec.clone(),
                public_key: KEY,
            }),
            disconnected_meanwhile: false,
        }
    }

    fn refusal(t: Transition) -> String {
        match t {
            Transition::Refuse(e) => e.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_first_plan_creates_the_same_interface_updates_other_settings_recreate() {
        let s = spec("kubewire0", 1420);
        assert!(matches!(
            decide(&[], request("prod", 1000, &s)),
            Transition::Create
        ));
        let now = [held("prod", 1000, &s)];
        assert!(matches!(
            decide(&now, request("prod", 1000, &s)),
            Transition::Update
        ));
        let mtu = spec("kubewire0", 1380);
        assert!(matches!(
            decide(&now, request("prod", 1000, &mtu)),
            Transition::Update
        ));
        let renamed = spec("kubewire1", 1420);
        assert!(matches!(
            decide(&now, request("prod", 1000, &renamed)),
            Transition::Recreate
        ));
        let mut rekeyed = request("prod", 1000, &s);
        rekeyed.checked = Ok(Wanted {
            spec: s.clone(),
            public_key: PublicKey::from_bytes([1; 32]),
        });
        assert!(matches!(decide(&now, rekeyed), Transition::Recreate));
    }

    #[test]
    fn only_the_owner_or_root_may_change_a_session() {
        let s = spec("kubewire0", 1420);
        let now = [held("prod", 1000, &s)];
        let t = decide(&now, request("prod", 1001, &s));
        assert_eq!(
            refusal(t),
            "the tunnel belongs to uid 1000; only that user or root may change it"
        );
        assert!(matches!(decide(&now, request("prod", 0, &s)), Transition::Update));
        // Another user's own connection is theirs: it is not refused for the first one's owner.
        let other = spec("kubewire-st", 1420);
        assert!(matches!(
            decide(&now, request("staging", 1001, &other)),
            Transition::Create
        ));
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_second_connection_gets_its_own_interface_and_ranges_that_overlap_are_refused_naming_the_other() {
        let prod_spec = spec("kubewire-prod", 1420);
        let prod_routes = nets(&["10.42.0.0/16", "10.43.0.0/16", "10.4.0.1/32"]);
        let mut prod = held("prod", 1000, &prod_spec);
        prod.routes = &prod_routes;
        let now = [prod];
        // Other ranges, another interface: a new connection.
        let lab_spec = spec("kw-kubewir-4027", 1420);
        let lab_routes = nets(&["10.52.0.0/16", "10.53.0.0/16"]);
        let mut lab = request("kubewire-lab", 1000, &lab_spec);
        lab.asks.routes = &lab_routes;
        assert!(matches!(decide(&now, lab), Transition::Create));
        // The same cluster under a second name: refused, naming the connection and the ranges.
        let same_routes = nets(&["10.42.1.0/24", "10.43.0.0/16", "10.99.0.0/24"]);
        let mut again = request("kubewire-lab", 1000, &lab_spec);
        again.asks.routes = &same_routes;
        let message = refusal(decide(&now, again));
        assert_eq!(
            message,
            "the ranges 10.42.1.0/24, 10.43.0.0/16 overlap the connection prod; translation of \
             overlapping ranges is not built yet: run `kubewire disconnect --name prod` first to \
             connect kubewire-lab"
        );
        // A range that contains one of the other's overlaps too.
        assert_eq!(
            overlapping(&nets(&["10.0.0.0/8"]), &prod_routes),
            nets(&["10.0.0.0/8"])
        );
        assert!(overlapping(&nets(&["10.44.0.0/16"]), &prod_routes).is_empty());
        // The connection itself may keep its ranges.
        let mut update = request("prod", 1000, &prod_spec);
        update.asks.routes = &prod_routes;
        assert!(matches!(decide(&now, update), Transition::Update));
        // Another connection may not take the interface of one that is up.
        let message = refusal(decide(&now, request("other", 1000, &prod_spec)));
        assert!(
            message.contains("kubewire-prod is the interface of the connection prod"),
            "{message}"
        );
    }

    #[test]
    fn more_than_the_limit_is_refused_with_the_connections_named() {
        let specs: Vec<InterfaceSpec> = (0..MAX_SESSIONS).map(|i| spec(&format!("kw{i}"), 1420)).collect();
        let names: Vec<String> = (0..MAX_SESSIONS).map(|i| format!("c{i}")).collect();
        let now: Vec<Held<'_>> = names.iter().zip(&specs).map(|(n, s)| held(n, 1000, s)).collect();
        let extra = spec("kwx", 1420);
        let message = refusal(decide(&now, request("extra", 1000, &extra)));
        assert!(message.contains("at most 16 connections at once"), "{message}");
        assert!(message.contains("c0, c1"), "{message}");
        assert!(matches!(
            decide(&now[..MAX_SESSIONS - 1], request("extra", 1000, &extra)),
            Transition::Create
        ));
    }

    #[test]
    fn a_wedged_backend_refuses_until_a_restart() {
        let s = spec("kubewire0", 1420);
        let mut h = held("prod", 1000, &s);
        h.wedged = true;
        let message = refusal(decide(&[h], request("prod", 1000, &s)));
        assert!(
            message.starts_with("kubewire0: the interface is wedged"),
            "{message}"
        );
        assert!(message.contains("restart kubewired"), "{message}");
    }

    #[test]
    fn the_plans_check_and_a_disconnect_meanwhile_refuse_after_the_caller_is_admitted() {
        let s = spec("kubewire0", 1420);
        let now = [held("prod", 1000, &s)];
        let mut refused = request("prod", 1000, &s);
        refused.checked = Err(DaemonError::PlanRefused("0.0.0.0/0 is a default route".into()));
        let t = decide(&now, refused);
        assert!(matches!(t, Transition::Refuse(DaemonError::PlanRefused(_))));
        // The owner comes first: a stranger learns nothing about the Plan's check.
        let mut stranger = request("prod", 1001, &s);
        stranger.checked = Err(DaemonError::BadKey);
        assert!(matches!(
            decide(&now, stranger),
            Transition::Refuse(DaemonError::NotOwner { .. })
        ));
        let mut late = request("prod", 1000, &s);
        late.disconnected_meanwhile = true;
        assert!(matches!(
            decide(&now, late),
            Transition::Refuse(DaemonError::DisconnectedMeanwhile)
        ));
        let mut late = request("prod", 1000, &s);
        late.disconnected_meanwhile = true;
        assert!(matches!(
            decide(&[], late),
            Transition::Refuse(DaemonError::DisconnectedMeanwhile)
        ));
    }
}
