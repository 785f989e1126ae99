//! openresolv mode while connected: a DHCP renewal (or a VPN, or ifupdown) hands openresolv new
//! nameservers for its interface; `/etc/resolv.conf` does not change (ours is exclusive), so the
//! resolver would keep forwarding to the old ones. inotify on openresolv's `interfaces` directory
//! (no timer at rest): on a change, `resolvconf -l` is read again, its nameservers become the
//! resolver's upstreams, and a change of search domains re-registers our snippet with them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use inotify::{Inotify, WatchMask};
use tracing::{debug, info, warn};

use super::openresolv::run;
use crate::error::file_err;
use crate::os::linux::openresolv::{self, PROGRAM, Theirs};
use crate::{DnsError, UpstreamsHandle};

/// How long the directory must be quiet after an event before it is read.
const SETTLE: Duration = Duration::from_millis(100);

/// What the watch needs.
pub struct Follow {
    /// openresolv's `<state dir>/interfaces`.
    pub dir: PathBuf,
    /// Our record's name (`wg0.kubewire`).
    pub record: String,
    /// The resolver's address (never an upstream of itself).
    pub resolver: IpAddr,
    /// What the others gave when we registered.
    pub last: Theirs,
    /// The resolver's upstreams.
    pub upstreams: UpstreamsHandle,
}

/// Starts following; the task runs until aborted.
pub fn spawn(follow: Follow) -> Result<tokio::task::JoinHandle<()>, DnsError> {
    let inotify = Inotify::init().map_err(file_err(&follow.dir))?;
    let stream = inotify
        .into_event_stream(vec![0u8; 4096])
        .map_err(file_err(&follow.dir))?;
    let mask = WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::CREATE
        | WatchMask::DELETE;
    stream
        .watches()
        .add(&follow.dir, mask)
        .map_err(file_err(&follow.dir))?;
    info!(dir = %follow.dir.display(), "following openresolv's other interfaces");
    Ok(tokio::spawn(async move {
        let mut stream = stream;
        let mut follow = follow;
        while stream.next().await.is_some() {
            while let Ok(Some(_)) = tokio::time::timeout(SETTLE, stream.next()).await {}
            follow.check().await;
        }
    }))
}

impl Follow {
    async fn check(&mut self) {
        let listed = match run(&["-l"], None).await {
            Ok(listed) => listed,
            Err(e) => {
                warn!(error = %e, "openresolv: reading the other interfaces' DNS failed");
                return;
            }
        };
        let theirs = openresolv::theirs(&listed, self.resolver);
        if theirs == self.last {
            return;
        }
        if theirs.nameservers.is_empty() {
            // Nobody gives a nameserver (the LAN went away): keep the last ones rather than none.
            debug!("openresolv: no other nameservers; keeping the last ones");
        } else if theirs.nameservers != self.last.nameservers {
            info!(upstreams = ?theirs.nameservers, "openresolv: other interfaces' nameservers changed; forwarding there");
            if let Err(e) = self.upstreams.set(theirs.nameservers.clone()) {
                warn!(error = %e, "openresolv: new upstreams refused");
                return;
            }
        }
        if theirs.search != self.last.search {
            let snippet = openresolv::snippet(self.resolver, &theirs);
            if let Err(e) = run(&["-a", &self.record, "-m", "0", "-x"], Some(&snippet)).await {
                warn!(error = %e, "{PROGRAM}: re-registering with the new search domains failed");
                return;
            }
        }
        self.last = theirs;
    }
}
