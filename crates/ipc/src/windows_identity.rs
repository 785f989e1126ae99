//! Who a Windows pipe client is, as the daemon's ownership rules need it, pure so it is tested on
//! every OS ([`crate::windows`] reads the SIDs).
//!
//! The daemon's rules speak of uids (a session belongs to the uid that started it; only that uid or
//! root may replace or end it). On Windows a client is its process token's user SID: SYSTEM
//! (`S-1-5-18`) is root (uid 0); every other SID maps to a uid of its own, with the high bit set so
//! it never meets a small number ([`uid_for_sid`]). Two different SIDs could in principle map to the
//! same uid (a 31-bit hash): for the few accounts of one machine the chance is about one in two
//! billion per pair, and an account cannot choose its SID.

/// LocalSystem: the account the daemon's service runs as, and "root" among pipe clients.
pub const SYSTEM_SID: &str = "S-1-5-18";

/// A SID in its string form, checked (`S-1-<authority>-<sub>...`, digits only), upper-cased.
#[must_use]
pub fn normalize(sid: &str) -> Option<String> {
    let sid = sid.trim().to_ascii_uppercase();
    let rest = sid.strip_prefix("S-1-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let ok = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(sid)
}

/// The uid a client with this SID gets: 0 for SYSTEM, else a stable number with the high bit set.
#[must_use]
pub fn uid_for_sid(sid: &str) -> u32 {
    let Some(sid) = normalize(sid) else {
        // Not a SID: a uid no real account gets (owns nothing, and is not root).
        return u32::MAX;
    };
    if sid == SYSTEM_SID {
        return 0;
    }
    // FNV-1a, 32 bits: stable across runs and builds (unlike std's hasher).
    let mut hash: u32 = 0x811c_9dc5;
    for b in sid.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    0x8000_0000 | (hash & 0x7fff_fffe)
}

/// Whether the process serving the daemon's pipe may be given the private key: only when it runs
/// as SYSTEM (the service), not as a user who created a pipe of that name first.
pub fn check_server(sid: Option<&str>) -> Result<(), String> {
    match sid.and_then(normalize) {
        Some(sid) if sid == SYSTEM_SID => Ok(()),
        Some(sid) => Err(format!(
            "the process serving the kubewire daemon's pipe runs as {sid}, not as SYSTEM: it is not the \
             kubewired service, and nothing was sent to it. Restart the service (`sc stop kubewired` then \
             `sc start kubewired`, as administrator) and look for the program that took its pipe"
        )),
        None => Err(
            "cannot tell who serves the kubewire daemon's pipe, so nothing was sent to it; \
             check that the kubewired service runs (`sc query kubewired`)"
                .to_owned(),
        ),
    }
}

/// Whether the process now holding the client's pid can be the client: it must have started no
/// later than the connection was accepted (else the client exited and its pid was reused).
#[must_use]
pub fn pid_still_the_client(process_started_secs: u64, accepted_secs: u64) -> bool {
    process_started_secs <= accepted_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_is_root_and_users_get_their_own_uids() {
        assert_eq!(uid_for_sid("S-1-5-18"), 0);
        assert_eq!(uid_for_sid(" s-1-5-18 "), 0);
        let alice = uid_for_sid("S-1-5-21-1004336348-1177238915-682003330-1001");
        let bob = uid_for_sid("S-1-5-21-1004336348-1177238915-682003330-1002");
        assert_ne!(alice, bob);
        assert_ne!(alice, 0);
        assert!(alice >= 0x8000_0000 && bob >= 0x8000_0000);
        assert_eq!(
            alice,
            uid_for_sid("S-1-5-21-1004336348-1177238915-682003330-1001"),
            "stable"
        );
        // Administrators and other well-known SIDs are not root: only SYSTEM is.
        assert_ne!(uid_for_sid("S-1-5-32-544"), 0);
        assert_eq!(uid_for_sid("not a sid"), u32::MAX);
        assert_eq!(uid_for_sid("S-1-5-x"), u32::MAX);
    }

    #[test]
    fn ownership_follows_the_sid() {
        // The daemon's rule on these uids: the owner or root.
        let may_end = |owner: u32, peer: u32| peer == 0 || peer == owner;
        let alice = uid_for_sid("S-1-5-21-1-2-3-1001");
        let bob = uid_for_sid("S-1-5-21-1-2-3-1002");
        assert!(may_end(alice, alice));
        assert!(
            !may_end(alice, bob),
            "another user may not end or replace the session"
        );
        assert!(may_end(alice, uid_for_sid(SYSTEM_SID)));
    }

    #[test]
    fn the_key_goes_only_to_a_server_running_as_system() {
        assert!(check_server(Some("S-1-5-18")).is_ok());
        let err = check_server(Some("S-1-5-21-1-2-3-1001")).unwrap_err();
        assert!(
            err.contains("not as SYSTEM") && err.contains("nothing was sent"),
            "{err}"
        );
        assert!(check_server(None).unwrap_err().contains("nothing was sent"));
        assert!(check_server(Some("garbage")).is_err());
    }

    #[test]
    fn a_reused_pid_is_not_the_client() {
        assert!(pid_still_the_client(100, 100));
        assert!(pid_still_the_client(99, 100));
        assert!(!pid_still_the_client(101, 100));
    }
}
