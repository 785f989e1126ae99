//! The secrets a bug report must not carry, as kubewire knows them: the kubeconfig's (tokens,
//! passwords, client keys, auth-provider tokens, exec plugin environment values, token files'
//! contents) and the laptop's private key.

use std::path::Path;

use serde_yaml::Value;

/// Keys under `users[].user` whose values are secret, at any depth (`auth-provider.config`).
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "client-key-data",
    "id-token",
    "refresh-token",
    "access-token",
    "client-secret",
];

/// Every secret value of the kubeconfig files `files`.
pub fn kubeconfig_secrets(files: &[impl AsRef<Path>]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(doc) = serde_yaml::from_str::<Value>(&text) else {
            continue;
        };
        for user in doc
            .get("users")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(user) = user.get("user") {
                collect(user, &mut out);
            }
        }
    }
    out
}

fn collect(value: &Value, out: &mut Vec<String>) {
    let Some(map) = value.as_mapping() else {
        return;
    };
    for (key, value) in map {
        let key = key.as_str().unwrap_or_default();
        match (key, value) {
            (k, Value::String(s)) if SECRET_KEYS.contains(&k) => out.push(s.clone()),
            ("tokenFile" | "token-file", Value::String(path)) => {
                if let Ok(token) = std::fs::read_to_string(path) {
                    out.push(token.trim().to_owned());
                }
            }
            // An exec plugin's environment (`AWS_SECRET_ACCESS_KEY`...): every value.
            ("env", Value::Sequence(vars)) => {
                out.extend(
                    vars.iter()
                        .filter_map(|v| v.get("value").and_then(Value::as_str))
                        .map(str::to_owned),
                );
            }
            (_, nested @ Value::Mapping(_)) => collect(nested, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_kubeconfig_secret_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "from-a-token-file\n").unwrap();
        let kc = dir.path().join("config");
        std::fs::write(
            &kc,
            format!(
                "apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user:\n    token: tok-a\n- name: b\n  user:\n    \
                 client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n- name: c\n  user:\n    tokenFile: {}\n\
                 - name: d\n  user:\n    auth-provider:\n      config:\n        id-token: idt\n        refresh-token: rt\n\
                 - name: e\n  user:\n    exec:\n      command: aws\n      env:\n      - name: AWS_SECRET_ACCESS_KEY\n        value: sk\n",
                token_file.display()
            ),
        )
        .unwrap();
        let mut found = kubeconfig_secrets(&[kc]);
        found.sort();
        assert_eq!(found, ["a2V5", "from-a-token-file", "idt", "rt", "sk", "tok-a"]);
    }
}
