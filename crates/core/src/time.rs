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

/// `secs` after the Unix epoch as an RFC 3339 UTC time (`2026-12-07T18:01:10Z`): a moment that
/// reads the same whenever it is shown, unlike an age.
#[must_use]
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

    #[test]
    fn utc_reads_as_the_calendar_does() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_666_470), "2026-12-07T18:01:10Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    }
}
