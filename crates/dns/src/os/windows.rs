//! Windows: one NRPT rule (registry) sending the cluster domains to the resolver, plus the cluster
//! search suffixes in the global search list (NRPT does not expand search domains). The values are
//! produced by pure functions (here, tested on Linux); `windows_registry.rs` writes them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where NRPT rules live (the local, non-Group-Policy path).
pub const NRPT_KEY: &str = r"SYSTEM\CurrentControlSet\Services\Dnscache\Parameters\DnsPolicyConfig";
/// The global DNS search list value's key (`SearchList`, REG_SZ, comma-separated).
pub const TCPIP_KEY: &str = r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters";
/// NRPT accepts at most this many names in one rule.
pub const MAX_NAMES_PER_RULE: usize = 50;
/// The rule key name prefix (`{kubewire-<n>}`) that cleanup looks for.
pub const RULE_PREFIX: &str = "kubewire-";

/// A registry value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RegValue {
    /// REG_DWORD.
    Dword(u32),
    /// REG_SZ.
    Sz(String),
    /// REG_MULTI_SZ.
    MultiSz(Vec<String>),
}

/// One NRPT rule: its key under HKLM and its values.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NrptRule {
    /// `NRPT_KEY\<rule id>`.
    pub key: String,
    /// `(value name, value)`.
    pub values: Vec<(String, RegValue)>,
}

/// The NRPT rules (50 names each) sending `domains` (suffix match: leading dot) to `resolver`.
pub fn nrpt_rules(resolver: IpAddr, domains: &[String]) -> Vec<NrptRule> {
    let mut names: Vec<String> = Vec::new();
    for d in domains {
        let d = format!(".{}", d.trim_matches('.').to_ascii_lowercase());
        if d.len() > 1 && !names.contains(&d) {
            names.push(d);
        }
    }
    names
        .chunks(MAX_NAMES_PER_RULE)
        .enumerate()
        .map(|(i, chunk)| NrptRule {
            key: format!(r"{NRPT_KEY}\{RULE_PREFIX}{i}"),
            values: vec![
                ("Version".into(), RegValue::Dword(1)),
                ("Name".into(), RegValue::MultiSz(chunk.to_vec())),
                ("GenericDNSServers".into(), RegValue::Sz(resolver.to_string())),
                ("ConfigOptions".into(), RegValue::Dword(0x8)),
                ("IPSECCARestriction".into(), RegValue::Sz(String::new())),
                (
                    "Comment".into(),
                    RegValue::Sz("Added by kubewire; removed on disconnect".into()),
                ),
            ],
        })
        .collect()
}

/// The search list with ours in front of the existing one (comma-separated, no duplicates).
pub fn search_list_with(existing: &str, ours: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    for d in ours.iter().map(String::as_str).chain(existing.split(',')) {
        let d = d.trim().trim_end_matches('.').to_owned();
        if !d.is_empty() && !out.contains(&d) {
            out.push(d);
        }
    }
    out.join(",")
}

/// The search list with ours taken out again.
pub fn search_list_without(current: &str, ours: &[String]) -> String {
    let ours: Vec<&str> = ours.iter().map(|d| d.trim_end_matches('.')).collect();
    current
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !ours.contains(d))
        .collect::<Vec<_>>()
        .join(",")
}

/// The search list without the suffixes at or under `zones` (NRPT rule names such as
/// `.cluster.local`): what revert leaves, computed from our rules alone, also after a crash.
pub fn search_list_without_zones(current: &str, zones: &[String]) -> String {
    let zones: Vec<String> = zones
        .iter()
        .map(|z| z.trim_matches('.').to_ascii_lowercase())
        .filter(|z| !z.is_empty())
        .collect();
    current
        .split(',')
        .map(str::trim)
        .filter(|d| {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            !d.is_empty() && !zones.iter().any(|z| d == *z || d.ends_with(&format!(".{z}")))
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_with_leading_dots_and_the_resolver() {
        let rules = nrpt_rules(
            "10.4.0.99".parse().unwrap(),
            &["cluster.local".into(), "42.10.in-addr.arpa.".into()],
        );
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].key, format!(r"{NRPT_KEY}\kubewire-0"));
        assert!(rules[0].values.contains(&(
            "Name".into(),
            RegValue::MultiSz(vec![".cluster.local".into(), ".42.10.in-addr.arpa".into()])
        )));
        assert!(
            rules[0]
                .values
                .contains(&("GenericDNSServers".into(), RegValue::Sz("10.4.0.99".into())))
        );
        assert!(
            rules[0]
                .values
                .contains(&("ConfigOptions".into(), RegValue::Dword(8)))
        );
    }

    #[test]
    fn more_than_fifty_names_split_into_rules() {
        let many: Vec<String> = (0..120).map(|i| format!("{i}.10.in-addr.arpa")).collect();
        let rules = nrpt_rules("10.4.0.99".parse().unwrap(), &many);
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[2].key, format!(r"{NRPT_KEY}\kubewire-2"));
    }

    #[test]
    fn search_list_round_trips() {
        let ours = [
            "default.svc.cluster.local".to_string(),
            "svc.cluster.local".to_string(),
        ];
        let with = search_list_with("corp.example,lan", &ours);
        assert_eq!(
            with,
            "default.svc.cluster.local,svc.cluster.local,corp.example,lan"
        );
        assert_eq!(search_list_without(&with, &ours), "corp.example,lan");
        assert_eq!(
            search_list_with("", &ours),
            "default.svc.cluster.local,svc.cluster.local"
        );
    }

    #[test]
    fn revert_takes_out_the_suffixes_under_our_rules_only() {
        let rules = nrpt_rules(
            "10.4.0.99".parse().unwrap(),
            &["cluster.local".into(), "42.10.in-addr.arpa".into()],
        );
        let Some((_, RegValue::MultiSz(names))) = rules[0].values.iter().find(|(n, _)| n == "Name") else {
            panic!("no Name value");
        };
        let with = search_list_with(
            "corp.example,local.corp",
            &["default.svc.cluster.local".into(), "svc.cluster.local".into()],
        );
        assert_eq!(search_list_without_zones(&with, names), "corp.example,local.corp");
        assert_eq!(search_list_without_zones("Cluster.Local.,lan", names), "lan");
        assert_eq!(search_list_without_zones("", names), "");
    }
}
