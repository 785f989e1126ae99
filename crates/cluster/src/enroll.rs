//! `kubewire enroll --print`: the laptop's Kilo Peer as YAML for a cluster admin to apply, for a user
//! who may not create Peers. It holds the laptop's public key (the key is created and stored now, so
//! that a later connect uses the same one), the address the core would choose (free in the Kilo
//! subnet, stable for the key), the keepalive, kubewire's labels and the `kubewire.io/enrolled`
//! annotation that tells connect to use the Peer as it is, and the laptop's preshared key when it has
//! one (`--psk` makes one, kept beside the key). Nothing in the cluster changes.

use ipnet::IpNet;
use kubewire_core::plan;
use tokio::sync::mpsc;

use crate::connect::{ConnectOptions, plan_failed, prepare_with_key};
use crate::error::ClusterError;
use crate::events::ControllerEvent;
use crate::registration::{ENROLLED_ANNOTATION, PeerSpec, peer_object};

/// The Peer to hand to an admin.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The Peer's name.
    pub name: String,
    /// The laptop's address in it.
    pub address: IpNet,
    /// The Peer already in the cluster with the laptop's key, if there is one.
    pub existing: Option<String>,
    /// The Peer as YAML (`kubectl apply -f`).
    pub yaml: String,
}

/// Reads the cluster (nothing is written to it) and makes the laptop's Peer.
pub async fn enroll(
    options: &ConnectOptions,
    events: mpsc::UnboundedSender<ControllerEvent>,
) -> Result<Enrollment, ClusterError> {
    let prepared = prepare_with_key(options, events).await?;
    let existing = prepared
        .snapshot
        .peers()
        .find(|p| p.public_key == prepared.keys.public)
        .map(|p| p.name.clone());
    let name = existing.clone().unwrap_or_else(|| options.identity.peer_name());
    let preshared_key = crate::connect::preshared_key(options, &prepared.cluster.server).await?;
    let mut request = prepared.request;
    request.peer_name = Some(name.clone());
    request.preshared_key = preshared_key.is_some();
    let now = prepared.clock.now_unix();
    let first = plan(&prepared.snapshot, &request, now).map_err(plan_failed)?;
    let address = first.interface.address;
    let spec = PeerSpec {
        address,
        keepalive: request.settings.persistent_keepalive,
        stamp: (ENROLLED_ANNOTATION, u64::try_from(now).unwrap_or_default()),
        preshared_key,
    };
    let object = peer_object(&name, &options.identity, &prepared.keys.public, &spec);
    let yaml =
        serde_yaml::to_string(&object).map_err(|e| ClusterError::Plan(format!("the Peer as YAML: {e}")))?;
    Ok(Enrollment {
        name,
        address,
        existing,
        yaml,
    })
}
