//! Who may open the daemon's Windows named pipe: its security descriptor, in SDDL, built from the
//! group the installer chose. Pure, so it is tested on every OS; [`crate::windows`] applies it.
//!
//! The pipe allows SYSTEM and the Administrators full access and the chosen group read/write, and
//! nobody else anything (a protected DACL: nothing inherited). The group is given as a SID
//! (`S-1-5-32-545`), an SDDL alias (`BU` the local Users, `IU` interactive users), or a local
//! group's name, which is turned into its SID with PowerShell (SDDL has no names).

/// Why a group cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("the group for the daemon's pipe is empty: pass a group name, a SID or an alias (e.g. BU)")]
    Empty,
    #[error(
        "the group {0:?} cannot be used for the daemon's pipe: use a local group's name (letters, digits, space, . _ -), \
         a SID (S-1-…) or an SDDL alias (BU, IU, AU)"
    )]
    Invalid(String),
}

/// How the group was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trustee {
    /// A SID string or an SDDL alias: goes into the descriptor as is.
    Sddl(String),
    /// A group name: its SID must be looked up first ([`lookup_command`], [`parse_lookup`]).
    Name(String),
}

/// The SDDL aliases that name groups a user may be in.
const ALIASES: &[&str] = &["BU", "IU", "AU", "BA", "PU"];

/// Classifies `group`.
pub fn trustee(group: &str) -> Result<Trustee, AclError> {
    let group = group.trim();
    if group.is_empty() {
        return Err(AclError::Empty);
    }
    if ALIASES.contains(&group) {
        return Ok(Trustee::Sddl(group.to_owned()));
    }
    if let Some(rest) = group.strip_prefix("S-1-") {
        if !rest.is_empty()
            && rest
                .split('-')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(Trustee::Sddl(group.to_owned()));
        }
        return Err(AclError::Invalid(group.to_owned()));
    }
    let name_ok = group.len() <= 256
        && group
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'));
    if name_ok {
        Ok(Trustee::Name(group.to_owned()))
    } else {
        Err(AclError::Invalid(group.to_owned()))
    }
}

/// The pipe's security descriptor for a SID or alias.
pub fn sddl(sid: &str) -> String {
    format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;{sid})")
}

/// The PowerShell command that prints the SID of the local group `name` (checked by [`trustee`],
/// so it holds no quote).
pub fn lookup_command(name: &str) -> String {
    format!(
        "(New-Object System.Security.Principal.NTAccount('{name}')).Translate([System.Security.Principal.SecurityIdentifier]).Value"
    )
}

/// The SID in the lookup's output, if it printed one.
pub fn parse_lookup(output: &str) -> Option<String> {
    let line = output.lines().map(str::trim).find(|l| !l.is_empty())?;
    match trustee(line) {
        Ok(Trustee::Sddl(sid)) if sid.starts_with("S-1-") => Some(sid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_aliases_go_in_as_they_are() {
        assert_eq!(trustee("BU"), Ok(Trustee::Sddl("BU".into())));
        assert_eq!(
            trustee(" S-1-5-32-545 "),
            Ok(Trustee::Sddl("S-1-5-32-545".into()))
        );
        assert_eq!(
            sddl("S-1-5-32-545"),
            "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;S-1-5-32-545)"
        );
    }

    #[test]
    fn names_are_looked_up_and_nothing_can_escape_the_descriptor_or_the_command() {
        assert_eq!(trustee("kubewire"), Ok(Trustee::Name("kubewire".into())));
        assert_eq!(trustee("Dev Team"), Ok(Trustee::Name("Dev Team".into())));
        for bad in ["a)(A;;GA;;;WD", "x'); Remove-Item C:\\ #", "S-1-5-", "S-1-x", ""] {
            assert!(trustee(bad).is_err(), "{bad}");
        }
        assert!(lookup_command("kubewire").contains("NTAccount('kubewire')"));
    }

    #[test]
    fn only_a_sid_counts_as_a_lookup_result() {
        assert_eq!(
            parse_lookup("\r\nS-1-5-21-1-2-3-1001\r\n"),
            Some("S-1-5-21-1-2-3-1001".into())
        );
        assert_eq!(parse_lookup("Exception calling \"Translate\""), None);
        assert_eq!(parse_lookup("BU"), None);
        assert_eq!(parse_lookup(""), None);
    }
}
