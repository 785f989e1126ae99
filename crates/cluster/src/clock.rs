//! The API server's clock. Kilo's readiness compares a node's `last-seen` with "now"; the laptop's
//! clock may be off, so "now" is the API server's (its `Date` header), kept as an offset to the local
//! clock and refreshed on every probe.

use std::time::SystemTime;

use kubewire_ipc::time::unix_secs_signed as unix;

/// The API server's clock as an offset to the local one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiClock {
    /// API server time minus local time, in seconds.
    pub offset_secs: i64,
}

impl ApiClock {
    /// The offset from a `Date` header value read at local time `local`; `None` if unparsable.
    #[must_use]
    pub fn from_date_header(value: &str, local: SystemTime) -> Option<Self> {
        let server = httpdate::parse_http_date(value).ok()?;
        Some(Self {
            offset_secs: unix(server) - unix(local),
        })
    }

    /// "Now" on the API server, in Unix seconds.
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        self.at(SystemTime::now())
    }

    /// The API server's time when the local clock reads `local`, in Unix seconds.
    #[must_use]
    pub fn at(&self, local: SystemTime) -> i64 {
        unix(local) + self.offset_secs
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn offset_from_a_date_header() {
        let local = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let server = httpdate::fmt_http_date(local + Duration::from_secs(90));
        let clock = ApiClock::from_date_header(&server, local).unwrap();
        assert_eq!(clock.offset_secs, 90);
        assert!(ApiClock::from_date_header("yesterday", local).is_none());
    }
}
