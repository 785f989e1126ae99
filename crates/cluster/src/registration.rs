//! The laptop's Kilo `Peer`: created or updated by server-side apply (field manager `kubewire`,
//! forced), so a changed key or address updates it (kgctl only creates), named from the user and the
//! host, labelled so kubewire finds its own Peers, annotated with the time of the last connect (for
//! `kubewire peers prune`), and deleted on disconnect unless kept. A Peer an admin applied from
//! `kubewire enroll --print` (annotated as enrolled) is used as it is: never written, never deleted.

use ipnet::IpNet;
use kube::ResourceExt as _;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kubewire_core::{PresharedKey, PublicKey};
use serde_json::json;

use crate::error::ClusterError;

/// Server-side apply field manager.
pub const FIELD_MANAGER: &str = "kubewire";
/// `app.kubernetes.io/managed-by` value on kubewire's Peers.
pub const MANAGED_BY: &str = "kubewire";
/// Label with the user's name.
pub const USER_LABEL: &str = "kubewire.io/user";
/// Label with the host's name.
pub const HOST_LABEL: &str = "kubewire.io/host";
/// Annotation: when the laptop last connected with this Peer (Unix seconds, the API server's clock).
pub const LAST_CONNECT_ANNOTATION: &str = "kubewire.io/last-connect";
/// Annotation on a Peer printed by `kubewire enroll --print` for an admin to apply (Unix seconds of the
/// enrollment): kubewire uses such a Peer and never writes or deletes it.
pub const ENROLLED_ANNOTATION: &str = "kubewire.io/enrolled";
/// The label selector of kubewire's Peers.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=kubewire";

/// The Kilo Peer resource.
#[must_use]
pub fn peer_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kilo.squat.ai", "v1alpha1", "Peer"),
        "peers",
    )
}

/// The Peers API (cluster-scoped).
#[must_use]
pub fn peers_api(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &peer_resource())
}

/// `text` as a DNS-1123 label: lower case, `[a-z0-9-]`, other runs replaced by one `-`, no leading
/// or trailing `-`, at most `max` characters; `"x"` if nothing is left.
#[must_use]
pub fn dns1123(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(max).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".to_owned() } else { out }
}

/// Who and where: the user's and the host's names as the OS gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// Host name (short).
    pub host: String,
}

impl Identity {
    /// This process's user and host.
    #[must_use]
    pub fn current() -> Self {
        let user = ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "user".to_owned());
        let host = std::env::var("COMPUTERNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().split('.').next().unwrap_or_default().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "laptop".to_owned());
        Self { user, host }
    }

    /// The Peer's name: `kubewire-<user>-<host>`, DNS-1123.
    #[must_use]
    pub fn peer_name(&self) -> String {
        dns1123(
            &format!("kubewire-{}-{}", dns1123(&self.user, 20), dns1123(&self.host, 30)),
            63,
        )
    }
}

/// What the laptop's Peer says: its address, keepalive and the one annotation that tells how it came
/// to be (`kubewire.io/last-connect` when kubewire registers it, `kubewire.io/enrolled` when an admin
/// applies it from `kubewire enroll --print`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The laptop's address (a /32 or /128).
    pub address: IpNet,
    /// Persistent keepalive in seconds (0 = off).
    pub keepalive: u16,
    /// The annotation and its value (Unix seconds).
    pub stamp: (&'static str, u64),
    /// The preshared key the laptop shares with the cluster (`spec.presharedKey`), if any.
    pub preshared_key: Option<PresharedKey>,
}

impl PeerSpec {
    /// A Peer registered at a connect at `now` (Unix seconds).
    #[must_use]
    pub fn connected(address: IpNet, keepalive: u16, now: u64, preshared_key: Option<PresharedKey>) -> Self {
        Self {
            address,
            keepalive,
            stamp: (LAST_CONNECT_ANNOTATION, now),
            preshared_key,
        }
    }
}

/// The Peer object kubewire applies (or prints for an admin).
#[must_use]
pub fn peer_object(name: &str, identity: &Identity, key: &PublicKey, spec: &PeerSpec) -> serde_json::Value {
    let mut object = json!({
        "apiVersion": "kilo.squat.ai/v1alpha1",
        "kind": "Peer",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                USER_LABEL: dns1123(&identity.user, 63),
                HOST_LABEL: dns1123(&identity.host, 63),
            },
            "annotations": {},
        },
        "spec": {
            "allowedIPs": [spec.address.to_string()],
            "publicKey": key.to_string(),
            "persistentKeepalive": spec.keepalive,
        },
    });
    object["metadata"]["annotations"][spec.stamp.0] = json!(spec.stamp.1.to_string());
    if let Some(psk) = &spec.preshared_key {
        object["spec"]["presharedKey"] = json!(psk.to_base64());
    }
    object
}

/// Creates or updates the Peer by server-side apply (stamped as `spec` says: the connect time). A
/// 403 is [`ClusterError::PeerForbidden`], whose fix is `kubewire enroll --print`.
pub async fn register(
    client: &kube::Client,
    name: &str,
    identity: &Identity,
    key: &PublicKey,
    spec: &PeerSpec,
) -> Result<(), ClusterError> {
    let address = spec.address;
    let object = peer_object(name, identity, key, spec);
    peers_api(client)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| match &e {
            kube::Error::Api(status) if status.code == 403 => ClusterError::PeerForbidden {
                name: name.to_owned(),
                message: status.message.clone(),
            },
            _ => ClusterError::api(format!("registering the laptop as Kilo Peer {name}"), &e),
        })?;
    tracing::info!("Kilo Peer registered");
    tracing::debug!(peer = name, %address, "Kilo Peer applied");
    Ok(())
}

/// Whether the Peer `name` was applied from `kubewire enroll --print` (an admin's: kubewire never
/// writes or deletes it). A Peer that does not exist is not.
pub async fn is_enrolled(client: &kube::Client, name: &str) -> Result<bool, ClusterError> {
    match peers_api(client).get_opt(name).await {
        Ok(peer) => Ok(peer.is_some_and(|p| p.annotations().contains_key(ENROLLED_ANNOTATION))),
        Err(e) => Err(ClusterError::api(format!("reading Kilo Peer {name}"), &e)),
    }
}

/// How connect comes by the laptop's Peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnPeer {
    /// kubewire registers it (server-side apply) under its own name.
    Register,
    /// A Peer with the laptop's key that someone else provided (an admin, from `kubewire enroll
    /// --print`, or by hand under another name): used as it is, never written or deleted.
    Provided(String),
}

/// Decides [`OwnPeer`]: `ours` is the name kubewire would register; `with_key` the Peer holding the
/// laptop's public key, if one does, and whether it is annotated as enrolled.
#[must_use]
pub fn own_peer(ours: &str, with_key: Option<(&str, bool)>) -> OwnPeer {
    match with_key {
        Some((name, enrolled)) if name != ours || enrolled => OwnPeer::Provided(name.to_owned()),
        _ => OwnPeer::Register,
    }
}

/// Deletes the Peer; a Peer already gone is fine.
pub async fn unregister(client: &kube::Client, name: &str) -> Result<(), ClusterError> {
    // The Services that point at the Peer's address go with it (`kubewire expose`).
    match crate::expose::delete_all_of(client, name).await {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(services = %deleted.join(","), "exposed Services deleted");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "deleting the exposed Services"),
    }
    match peers_api(client).delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!("Kilo Peer deleted");
            tracing::debug!(peer = name, "Kilo Peer deleted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(ClusterError::api(format!("deleting Kilo Peer {name}"), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns1123() {
        let id = Identity {
            user: "Jane.Doe".into(),
            host: "MacBook_Pro (2)".into(),
        };
        assert_eq!(id.peer_name(), "kubewire-jane-doe-macbook-pro-2");
        assert_eq!(dns1123("--", 10), "x");
        assert_eq!(dns1123(&"a".repeat(100), 63).len(), 63);
        assert_eq!(dns1123("ab-cd", 3), "ab");
    }

    #[test]
    fn a_peer_with_the_laptops_key_is_used_when_someone_else_made_it() {
        let ours = "kubewire-jane-laptop";
        assert_eq!(own_peer(ours, None), OwnPeer::Register);
        // kubewire's own from an earlier connect: registered again (address, keepalive, stamp).
        assert_eq!(own_peer(ours, Some((ours, false))), OwnPeer::Register);
        // An admin applied `kubewire enroll --print`.
        assert_eq!(own_peer(ours, Some((ours, true))), OwnPeer::Provided(ours.into()));
        // An admin made one by hand under another name: never a second Peer with the same key.
        assert_eq!(
            own_peer(ours, Some(("jane", false))),
            OwnPeer::Provided("jane".into())
        );
    }

    #[test]
    fn the_peer_object_carries_labels_stamp_and_spec() {
        let id = Identity {
            user: "jane".into(),
            host: "laptop".into(),
        };
        let key = PublicKey::from_bytes([7; 32]);
        let spec = PeerSpec {
            address: "10.4.200.7/32".parse().unwrap(),
            keepalive: 25,
            stamp: (ENROLLED_ANNOTATION, 1_800_000_000),
            preshared_key: None,
        };
        let o = peer_object("kubewire-jane-laptop", &id, &key, &spec);
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "kubewire"
        );
        assert_eq!(o["metadata"]["labels"][HOST_LABEL], "laptop");
        assert_eq!(o["metadata"]["annotations"][ENROLLED_ANNOTATION], "1800000000");
        assert_eq!(o["spec"]["allowedIPs"], json!(["10.4.200.7/32"]));
        assert_eq!(o["spec"]["publicKey"], key.to_string());
        assert_eq!(o["spec"]["persistentKeepalive"], 25);
        assert!(o["spec"].get("presharedKey").is_none());
        let psk = PresharedKey::from_bytes([5; 32]);
        let spec = PeerSpec::connected(spec.address, 25, 1_800_000_000, Some(psk.clone()));
        let o = peer_object("kubewire-jane-laptop", &id, &key, &spec);
        assert_eq!(o["spec"]["presharedKey"], psk.to_base64());
        assert_eq!(
            o["metadata"]["annotations"][LAST_CONNECT_ANNOTATION],
            "1800000000"
        );
    }
}
