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
