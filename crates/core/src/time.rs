//! Unix time conversions, in one place (pure: the clock is read at the edges, by
//! `kubewire_ipc::time::now_secs`, and comes in here as an argument).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch of `t` (0 for a time before 1970).
#[must_use]
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since the Unix epoch of `t`, negative before 1970 (saturating).
#[must_use]
pub fn unix_secs_signed(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The moment `secs` seconds after the Unix epoch.
#[must_use]
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_since_the_epoch_either_side_of_it() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(unix_secs(t), 1_800_000_000);
        assert_eq!(unix_secs_signed(t), 1_800_000_000);
        assert_eq!(from_unix_secs(1_800_000_000), t);
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(unix_secs(before), 0);
        assert_eq!(unix_secs_signed(before), -5);
    }
}
