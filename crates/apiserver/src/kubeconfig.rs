//! Kubeconfig files for the test server: one cluster (with its CA inline), one token user, one
//! context, selected as current.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// A kubeconfig for `server_url` trusting `ca_pem`, authenticating with `token`, whose cluster, user
/// and current context are all named `context`.
pub fn kubeconfig_yaml(server_url: &str, ca_pem: &str, token: &str, context: &str) -> String {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {
            "server": server_url,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    });
    // Serializing a JSON value to YAML cannot fail.
    serde_yaml::to_string(&doc).unwrap_or_default()
}
