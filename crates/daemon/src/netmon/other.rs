//! macOS and Windows: no event source yet (the route socket / SCDynamicStore and
//! NotifyIpInterfaceChange are the next step); the daemon re-reads the networks at each Plan.

use std::io;

pub struct Watch;

impl Watch {
    pub fn open() -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no network change events on this OS yet",
        ))
    }

    pub async fn changed(&mut self) -> io::Result<()> {
        std::future::pending().await
    }
}
