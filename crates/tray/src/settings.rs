//! The user's settings: `settings.json` in kubewire's config dir (`kubewire_cluster::paths`:
//! `$XDG_CONFIG_HOME/kubewire`, `~/.config/kubewire` on Linux; `~/Library/Application Support/kubewire`
//! on macOS; `%APPDATA%\kubewire\config` on Windows). A missing or unreadable file gives the defaults.

use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::types::{ErrorKind, Settings, UiError};

/// Where the settings live.
#[must_use]
pub fn path() -> Option<PathBuf> {
    kubewire_cluster::paths::config_dir().map(|d| d.join("settings.json"))
}

/// Reads the settings (defaults when there are none or they cannot be read).
#[must_use]
pub fn load(path: Option<&Path>) -> Settings {
    let Some(path) = path else {
        return Settings::default();
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|error| {
            tracing::warn!(path = %path.display(), %error, "unreadable settings, using the defaults");
            Settings::default()
        }),
        Err(_) => Settings::default(),
    }
}

/// The longest persistent keepalive the settings take (an hour; NATs forget a mapping long before).
pub const MAX_KEEPALIVE: u16 = 3600;

/// Whether `key` is a Kubernetes label key: an optional DNS prefix and `/`, then a name of at most
/// 63 characters (alphanumerics, `-`, `_`, `.`; alphanumeric at both ends).
fn label_key(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    name_ok && prefix_ok
}

fn invalid(message: String, fix: &str) -> UiError {
    UiError {
        kind: ErrorKind::Other,
        title: "These settings cannot be saved".into(),
        message,
        fix: fix.into(),
        command: None,
    }
}

/// Checks and normalises settings from the window (blank strings become `None`).
pub fn validate(mut settings: Settings) -> Result<Settings, UiError> {
    let blank = |v: &mut Option<String>| {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            *v = None;
        }
        if let Some(s) = v {
            *s = s.trim().to_owned();
        }
    };
    blank(&mut settings.service_cidr);
    blank(&mut settings.service_gateway);
    blank(&mut settings.last_context);
    blank(&mut settings.topology_label);
    blank(&mut settings.address);
    settings.default_namespace = settings.default_namespace.trim().to_owned();
    if settings.default_namespace.is_empty() {
        settings.default_namespace = "default".into();
    }
    if let Some(cidr) = &settings.service_cidr {
        cidr.parse::<IpNet>().map_err(|e| {
            invalid(
                format!("The service CIDR {cidr:?} is not a CIDR ({e})."),
                "Write it as address/prefix, e.g. 10.43.0.0/16, or leave it empty to use the cluster's.",
            )
        })?;
    }
    if let Some(mtu) = settings.mtu
        && !kubewire_core::mtu::BOUNDS.contains(&mtu)
    {
        return Err(invalid(
            format!("An MTU of {mtu} bytes is outside 576 to 9000."),
            "Leave it empty to follow the network, or take the one `kubewire doctor` names (e.g. 1280).",
        ));
    }
    if let Some(label) = &settings.topology_label
        && !label_key(label)
    {
        return Err(invalid(
            format!("{label:?} is not a label key."),
            "Use the label Kilo's --topology-label names, e.g. topology.kubernetes.io/region, or leave it empty.",
        ));
    }
    if let Some(address) = &settings.address {
        address.parse::<IpNet>().map_err(|e| {
            invalid(
                format!("The tunnel address {address:?} is not an address with a prefix ({e})."),
                "Write it as address/prefix inside the cluster's Kilo subnet, e.g. 10.4.255.5/32, or leave it empty.",
            )
        })?;
    }
    if let Some(secs) = settings.persistent_keepalive
        && secs > MAX_KEEPALIVE
    {
        return Err(invalid(
            format!("A keepalive of {secs} s is more than {MAX_KEEPALIVE} s."),
            "Use 25 (what NATs need), 0 to switch it off, or leave it empty.",
        ));
    }
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    if !dns_label(&settings.default_namespace) {
        return Err(invalid(
            format!("{:?} is not a namespace name.", settings.default_namespace),
            "Use lower-case letters, digits and '-', e.g. default.",
        ));
    }
    Ok(settings)
}

/// Writes the settings (atomically).
pub fn save(path: &Path, settings: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(settings).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_default_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubewire/settings.json");
        assert_eq!(load(Some(&path)), Settings::default());
        let s = Settings {
            auto_connect: true,
            last_context: Some("lab".into()),
            service_cidr: Some("10.43.0.0/16".into()),
            ..Settings::default()
        };
        save(&path, &s).unwrap();
        assert_eq!(load(Some(&path)), s);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"autoConnect\": true"), "{text}");
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(Some(&path)), Settings::default());
    }

    #[test]
    fn validation_normalises_and_refuses_bad_values() {
        let s = validate(Settings {
            service_cidr: Some("  ".into()),
            default_namespace: " ".into(),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(s.service_cidr, None);
        assert_eq!(s.default_namespace, "default");
        let e = validate(Settings {
            service_cidr: Some("10.43.0.0/99".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(e.message.contains("10.43.0.0/99"));
        let e = validate(Settings {
            mtu: Some(70),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(e.message.contains("MTU of 70"), "{}", e.message);
        let s = validate(Settings {
            mtu: Some(1280),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(s.mtu, Some(1280));
        assert!(
            validate(Settings {
                default_namespace: "Not Valid".into(),
                ..Settings::default()
            })
            .is_err()
        );
    }
}

#[cfg(test)]
mod connect_settings_tests {
    use super::*;

    #[test]
    fn the_connect_flags_of_the_cli_are_settings_too_and_reach_the_connection() {
        let s = validate(Settings {
            topology_label: Some(" kilo.squat.ai/location ".into()),
            address: Some("10.4.255.5/32".into()),
            persistent_keepalive: Some(0),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(s.topology_label.as_deref(), Some("kilo.squat.ai/location"));
        let o = crate::actions::options(&s, Some("lab".into())).unwrap();
        assert_eq!(o.settings.topology_label, "kilo.squat.ai/location");
        assert_eq!(o.settings.persistent_keepalive, 0);
        assert_eq!(o.address, Some("10.4.255.5/32".parse().unwrap()));
        // Unset: the CLI's defaults.
        let o = crate::actions::options(&Settings::default(), None).unwrap();
        assert_eq!(
            o.settings.topology_label,
            kubewire_core::model::DEFAULT_TOPOLOGY_LABEL
        );
        assert_eq!(o.settings.persistent_keepalive, 25);
        assert_eq!(o.address, None);
        // Old settings files (without the keys) still load.
        let old: Settings = serde_json::from_str(r#"{"autostart": true, "mtu": 1280}"#).unwrap();
        assert_eq!(old.topology_label, None);
        assert_eq!(old.persistent_keepalive, None);
    }

    #[test]
    fn bad_connect_settings_are_refused_with_the_fix() {
        for (bad, says) in [
            (
                Settings {
                    topology_label: Some("not a label!".into()),
                    ..Settings::default()
                },
                "not a label key",
            ),
            (
                Settings {
                    address: Some("10.4.255.5".into()),
                    ..Settings::default()
                },
                "not an address with a prefix",
            ),
            (
                Settings {
                    persistent_keepalive: Some(7200),
                    ..Settings::default()
                },
                "more than 3600",
            ),
        ] {
            let e = validate(bad).unwrap_err();
            assert!(e.message.contains(says), "{}", e.message);
            assert!(!e.fix.is_empty());
        }
    }
}
