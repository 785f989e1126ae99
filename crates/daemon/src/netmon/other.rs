//! macOS and Windows: address changes from the OS (`if-watch`: SCDynamicStore on macOS,
//! `NotifyIpInterfaceChange` on Windows), never polling. Route-only changes (a VPN that adds routes
//! without an address) are not seen here; they are read at the next Plan.

use std::io;

use futures::StreamExt;
use if_watch::tokio::IfWatcher;

pub struct Watch(IfWatcher);

impl Watch {
    pub fn open() -> io::Result<Self> {
        IfWatcher::new().map(Self)
    }

    /// Waits for the next address to come or go.
    pub async fn changed(&mut self) -> io::Result<()> {
        match self.0.next().await {
            Some(Ok(_event)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => std::future::pending().await,
        }
    }
}
