//! Unix time, in one place. The sans-IO parts (the core, the state machines) take time as an
//! argument; the edges read the clock through these.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// Unix seconds now.
#[must_use]
pub fn now_secs() -> u64 {
    unix_secs(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seconds_since_the_epoch_either_side_of_it() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(unix_secs(t), 1_800_000_000);
        assert_eq!(unix_secs_signed(t), 1_800_000_000);
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(unix_secs(before), 0);
        assert_eq!(unix_secs_signed(before), -5);
        assert!(now_secs() > 1_700_000_000);
    }
}
