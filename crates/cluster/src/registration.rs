//! The laptop's Kilo `Peer`: created or updated by server-side apply (field manager `kubewire`,
//! forced), so a changed key or address updates it (kgctl only creates), named from the user and the
//! host, labelled so kubewire finds its own Peers, and deleted on disconnect unless kept.

use ipnet::IpNet;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kubewire_core::PublicKey;
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

/// The Peer object kubewire applies.
#[must_use]
pub fn peer_object(
    name: &str,
    identity: &Identity,
    key: &PublicKey,
    address: IpNet,
    keepalive: u16,
) -> serde_json::Value {
    json!({
        "apiVersion": "kilo.squat.ai/v1alpha1",
        "kind": "Peer",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                USER_LABEL: dns1123(&identity.user, 63),
                HOST_LABEL: dns1123(&identity.host, 63),
            },
        },
        "spec": {
            "allowedIPs": [address.to_string()],
            "publicKey": key.to_string(),
            "persistentKeepalive": keepalive,
        },
    })
}

/// Creates or updates the Peer by server-side apply.
pub async fn register(
    client: &kube::Client,
    name: &str,
    identity: &Identity,
    key: &PublicKey,
    address: IpNet,
    keepalive: u16,
) -> Result<(), ClusterError> {
    let object = peer_object(name, identity, key, address, keepalive);
    peers_api(client)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| ClusterError::api(format!("registering the laptop as Kilo Peer {name}"), &e))?;
    tracing::info!("Kilo Peer registered");
    tracing::debug!(peer = name, %address, "Kilo Peer applied");
    Ok(())
}

/// Deletes the Peer; a Peer already gone is fine.
pub async fn unregister(client: &kube::Client, name: &str) -> Result<(), ClusterError> {
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
}
