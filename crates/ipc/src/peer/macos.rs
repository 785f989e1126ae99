//! macOS: who the peer is. `getpeereid` gives its effective uid and gid as recorded when it
//! connected (macOS has no `SO_PEERCRED`); its membership of the daemon's group comes from the user
//! database (the user's primary group, or the group's member list), as macOS itself decides group
//! access. Only APIs `nix` provides on Apple targets are used here.

use std::io;

use nix::unistd::{Gid, Group, User, getpeereid};
use tokio::net::UnixStream;

use crate::server::PeerIdentity;

/// The peer of `stream`; `group` is the daemon's group, reported in `groups` when the user's
/// database entry makes them a member.
pub fn identify(stream: &UnixStream, group: Option<u32>) -> io::Result<PeerIdentity> {
    let (uid, gid) = getpeereid(stream).map_err(io::Error::from)?;
    let mut groups = Vec::new();
    if let Some(group) = group {
        let user = User::from_uid(uid).map_err(io::Error::from)?;
        let member = user.as_ref().is_some_and(|u| {
            u.gid == Gid::from_raw(group)
                || Group::from_gid(Gid::from_raw(group))
                    .ok()
                    .flatten()
                    .is_some_and(|g| g.mem.iter().any(|m| *m == u.name))
        });
        if member {
            groups.push(group);
        }
    }
    Ok(PeerIdentity {
        uid: uid.as_raw(),
        gid: gid.as_raw(),
        pid: None,
        groups,
    })
}
