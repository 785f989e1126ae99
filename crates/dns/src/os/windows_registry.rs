//! Windows: writing the NRPT rules and the search list that [`super::windows`] computes, in
//! `HKEY_LOCAL_MACHINE` (the daemon runs as LocalSystem). Never compiled on the project's Linux
//! machines: the values come from the pure, tested functions; this file only stores and removes them.

use std::process::Command;

use windows_registry::LOCAL_MACHINE;

use super::windows::{
    NRPT_KEY, NrptRule, RULE_PREFIX, RegValue, TCPIP_KEY, search_list_with, search_list_without_zones,
};
use crate::DnsError;

fn err(what: &str, e: windows_registry::Result<()>) -> Result<(), DnsError> {
    e.map_err(|e| DnsError::Server(format!("registry {what}: {e}")))
}

/// Removes every rule of ours (keys named `kubewire-*` under the NRPT key) and returns the domain
/// names they held.
fn remove_rules() -> Result<Vec<String>, DnsError> {
    let Ok(parent) = LOCAL_MACHINE.open(NRPT_KEY) else {
        return Ok(Vec::new());
    };
    let ours: Vec<String> = parent
        .keys()
        .map_err(|e| DnsError::Server(format!("registry {NRPT_KEY}: {e}")))?
        .filter(|k| k.starts_with(RULE_PREFIX))
        .collect();
    let mut names = Vec::new();
    for key in ours {
        if let Ok(rule) = parent.open(&key) {
            names.extend(rule.get_multi_string("Name").unwrap_or_default());
        }
        err(&key, LOCAL_MACHINE.remove_tree(format!(r"{NRPT_KEY}\{key}")))?;
    }
    Ok(names)
}

fn write_rule(rule: &NrptRule) -> Result<(), DnsError> {
    let key = LOCAL_MACHINE
        .create(&rule.key)
        .map_err(|e| DnsError::Server(format!("registry {}: {e}", rule.key)))?;
    for (name, value) in &rule.values {
        let written = match value {
            RegValue::Dword(v) => key.set_u32(name, *v),
            RegValue::Sz(s) => key.set_string(name, s),
            RegValue::MultiSz(list) => {
                let list: Vec<&str> = list.iter().map(String::as_str).collect();
                key.set_multi_string(name.as_str(), &list)
            }
        };
        err(name, written)?;
    }
    Ok(())
}

fn set_search_list(edit: impl FnOnce(&str) -> String) -> Result<(), DnsError> {
    let key = LOCAL_MACHINE
        .create(TCPIP_KEY)
        .map_err(|e| DnsError::Server(format!("registry {TCPIP_KEY}: {e}")))?;
    let current = key.get_string("SearchList").unwrap_or_default();
    let next = edit(&current);
    if next != current {
        err("SearchList", key.set_string("SearchList", &next))?;
    }
    Ok(())
}

/// The DNS client reads the rules again and forgets cached answers.
fn flush() {
    if let Err(e) = Command::new("ipconfig").arg("/flushdns").output() {
        tracing::warn!(error = %e, "ipconfig /flushdns failed");
    }
}

/// Replaces our rules with `rules` and puts `search` in front of the search list.
pub fn apply(rules: &[NrptRule], search: &[String]) -> Result<(), DnsError> {
    remove_rules()?;
    for rule in rules {
        write_rule(rule)?;
    }
    set_search_list(|current| search_list_with(current, search))?;
    flush();
    Ok(())
}

/// Removes our rules and the search suffixes under the domains they held (also after a crash:
/// everything is read back from the registry).
pub fn revert() -> Result<(), DnsError> {
    let zones = remove_rules()?;
    set_search_list(|current| search_list_without_zones(current, &zones))?;
    flush();
    Ok(())
}
