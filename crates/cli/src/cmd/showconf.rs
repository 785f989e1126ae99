//! `kubewire showconf [--json]`: the live WireGuard configuration from the daemon. Key lines
//! (`PrivateKey`, `PresharedKey`) never leave this command, whatever the daemon sent: the text form
//! shows them as `(redacted)`, the JSON form leaves them out.

use kubewire_ipc::{Client, ClientError, Request, Response};
use serde_json::{Map, Value};

use super::Global;
use super::common;

/// Arguments of `kubewire showconf`.
#[derive(Debug, clap::Args)]
pub struct ShowconfArgs {
    /// Print it as JSON: {"interface": {...}, "peers": [{"name", "public_key", "endpoint", "allowed_ips", ...}]}.
    #[arg(long)]
    pub json: bool,
    /// The connection (default: the only one up).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Runs `kubewire showconf`.
pub fn run(args: &ShowconfArgs, global: &Global) -> anyhow::Result<()> {
    let text = common::runtime()?.block_on(async {
        let mut client = Client::connect(&global.socket).await?;
        let name = args
            .name
            .as_deref()
            .map(kubewire_core::connection::connection_name);
        match client.request(&Request::ShowConf { name }).await? {
            Response::ShowConf { text } => Ok::<_, anyhow::Error>(text),
            _ => Err(ClientError::Unexpected.into()),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&text))?);
    } else {
        print!("{}", redact(&text));
    }
    Ok(())
}

/// Whether a `Key = value` line carries a secret.
fn is_secret(key: &str) -> bool {
    key.eq_ignore_ascii_case("PrivateKey") || key.eq_ignore_ascii_case("PresharedKey")
}

/// The text with every secret's value replaced.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.split_once('=') {
            Some((key, _)) if is_secret(key.trim()) => {
                out.push_str(key.trim());
                out.push_str(" = (redacted)");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `AllowedIPs` → `allowed_ips`, `PersistentKeepalive` → `persistent_keepalive`.
fn snake(key: &str) -> String {
    if key.eq_ignore_ascii_case("AllowedIPs") {
        return "allowed_ips".to_owned();
    }
    let mut out = String::new();
    for (i, c) in key.char_indices() {
        if c.is_ascii_uppercase() && i > 0 && !key[..i].ends_with(|p: char| p.is_ascii_uppercase()) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The wg-quick text as `{"interface": {...}, "peers": [...]}`; a `# name` comment in a `[Peer]`
/// section becomes its `name`, `AllowedIPs` a list; secrets are left out.
fn to_json(text: &str) -> Value {
    let mut interface = Map::new();
    let mut peers: Vec<Map<String, Value>> = Vec::new();
    let mut in_peer = false;
    for line in text.lines().map(str::trim) {
        if line.eq_ignore_ascii_case("[Interface]") {
            in_peer = false;
            continue;
        }
        if line.eq_ignore_ascii_case("[Peer]") {
            in_peer = true;
            peers.push(Map::new());
            continue;
        }
        let section = match (in_peer, peers.last_mut()) {
            (true, Some(peer)) => peer,
            _ => &mut interface,
        };
        if let Some(comment) = line.strip_prefix('#') {
            if in_peer && !section.contains_key("name") {
                section.insert("name".into(), Value::String(comment.trim().to_owned()));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if is_secret(key) {
            continue;
        }
        let value = if key.eq_ignore_ascii_case("AllowedIPs")
            || key.eq_ignore_ascii_case("Address") && value.contains(',')
        {
            Value::Array(
                value
                    .split(',')
                    .map(|v| Value::String(v.trim().to_owned()))
                    .collect(),
            )
        } else {
            Value::String(value.to_owned())
        };
        section.insert(snake(key), value);
    }
    serde_json::json!({ "interface": interface, "peers": peers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_and_names_snake_cased() {
        let text = "[Interface]\nPrivateKey = abc=\nListenPort = 51820\n[Peer]\n# gcp\nPresharedKey=def=\nAllowedIPs = 10.0.0.0/24\n";
        assert!(!redact(text).contains("abc=") && !redact(text).contains("def="));
        let v = to_json(text);
        assert_eq!(v["interface"], serde_json::json!({"listen_port": "51820"}));
        assert_eq!(
            v["peers"],
            serde_json::json!([{"name": "gcp", "allowed_ips": ["10.0.0.0/24"]}])
        );
        assert_eq!(snake("PersistentKeepalive"), "persistent_keepalive");
        assert_eq!(snake("MTU"), "mtu");
    }
}
