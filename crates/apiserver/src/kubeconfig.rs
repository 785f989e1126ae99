//! Kubeconfig files for the test server: one cluster (with its CA inline), one token user, one
//! context, selected as current; or several servers, one context each, in one file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// A kubeconfig for `server_url` trusting `ca_pem`, authenticating with `token`, whose cluster, user
/// and current context are all named `context`.
pub fn kubeconfig_yaml(server_url: &str, ca_pem: &str, token: &str, context: &str) -> String {
    let one = KubeconfigEntry {
        server_url,
        ca_pem,
        token,
        context,
    };
    kubeconfig_yaml_contexts(&[one])
}

/// One server of a kubeconfig with several contexts.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigEntry<'a> {
    /// `https://host:port`.
    pub server_url: &'a str,
    /// The CA to trust (PEM).
    pub ca_pem: &'a str,
    /// The bearer token.
    pub token: &'a str,
    /// The name of its cluster, user and context.
    pub context: &'a str,
}

/// A kubeconfig with one cluster, user and context per entry; the first entry's context is current.
/// With one entry it is exactly [`kubeconfig_yaml`]'s file.
pub fn kubeconfig_yaml_contexts(entries: &[KubeconfigEntry<'_>]) -> String {
    let clusters: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({"name": e.context, "cluster": {
                "server": e.server_url,
                "certificate-authority-data": STANDARD.encode(e.ca_pem),
            }})
        })
        .collect();
    let users: Vec<_> = entries
        .iter()
        .map(|e| json!({"name": e.context, "user": {"token": e.token}}))
        .collect();
    let contexts: Vec<_> = entries
        .iter()
        .map(|e| json!({"name": e.context, "context": {"cluster": e.context, "user": e.context}}))
        .collect();
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries.first().map(|e| e.context).unwrap_or_default(),
    });
    // Serializing a JSON value to YAML cannot fail.
    serde_yaml::to_string(&doc).unwrap_or_default()
}
