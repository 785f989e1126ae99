//! Linux: who the peer is, from the socket alone. `SO_PEERCRED` gives its uid, primary gid and pid,
//! `SO_PEERGROUPS` its supplementary groups, both as the kernel recorded them when the peer
//! connected: nothing is read from `/proc/<pid>` (the process may be gone and its pid reused by the
//! time the daemon accepts).
//!
//! `SO_PEERGROUPS` has no safe wrapper in `nix` or `rustix`, and the workspace forbids `unsafe`:
//! `ostrya-sys` wraps that one `getsockopt` (a reviewed, 30-line function that grows its buffer on
//! `ERANGE`), pinned by `Cargo.lock`.

use std::io;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::net::UnixStream;

use crate::server::PeerIdentity;

/// More groups than any process can have (`NGROUPS_MAX` is 65,536).
const MAX_GROUPS: usize = 65_536;

/// The peer of `stream`. `_group` is unused here: the socket carries every group.
pub fn identify(stream: &UnixStream, _group: Option<u32>) -> io::Result<PeerIdentity> {
    let cred = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
    let groups = ostrya_sys::peer_groups(stream, MAX_GROUPS).map_err(io::Error::from)?;
    let pid = cred.pid();
    Ok(PeerIdentity {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: (pid > 0).then_some(pid),
        groups,
    })
}
