//! Telling that the laptop slept (or was frozen) from two clocks, without the OS's help.
//!
//! A process that sleeps in a timer of `period` and wakes up learns two durations: how far the
//! monotonic clock moved and how far the wall clock moved. On Linux the monotonic clock stands still
//! during a suspend while the wall clock keeps going, so a suspend shows as wall ≫ monotonic; a
//! process that was stopped (SIGSTOP, a debugger, a VM paused) wakes up late on both clocks, so it
//! shows as monotonic ≫ period. Either gap larger than [`ResumeClock::SLACK`] is a resume. Pure:
//! the caller passes both readings; the daemon and the controller each keep one.

use std::time::{Duration, SystemTime};

/// The last reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeClock {
    /// The monotonic reading, as a duration since any fixed origin the caller chooses.
    mono: Duration,
    wall: SystemTime,
    /// How long the caller means to sleep between two readings.
    period: Duration,
}

impl ResumeClock {
    /// How much later than planned a wake-up may come without counting as a resume (a busy machine
    /// runs timers late by a second or two; a sleep is minutes).
    pub const SLACK: Duration = Duration::from_secs(10);

    /// Starts from a first reading; the caller wakes every `period`.
    #[must_use]
    pub fn new(mono: Duration, wall: SystemTime, period: Duration) -> Self {
        Self { mono, wall, period }
    }

    /// A new reading: `Some(gap)` when the time between this and the last one says the machine
    /// slept or was stopped for about `gap`; `None` for an ordinary wake-up. A wall clock set
    /// backwards is not a resume.
    pub fn tick(&mut self, mono: Duration, wall: SystemTime) -> Option<Duration> {
        let mono_passed = mono.saturating_sub(self.mono);
        let wall_passed = wall.duration_since(self.wall).unwrap_or(Duration::ZERO);
        *self = Self::new(mono, wall, self.period);
        // Suspended: the wall clock went on while the monotonic one stood still.
        let asleep = wall_passed.saturating_sub(mono_passed);
        // Stopped: woke up later than planned on the monotonic clock.
        let late = mono_passed.saturating_sub(self.period);
        let gap = asleep.max(late);
        (gap > Self::SLACK).then_some(gap)
    }
}

/// "3 min", "45 s", "2 h 5 min": how long the laptop was away, for `status`.
#[must_use]
pub fn away(gap: Duration) -> String {
    let s = gap.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn ordinary_and_slightly_late_wake_ups_are_not_a_resume() {
        let mut c = ResumeClock::new(Duration::ZERO, at(0), 5 * S);
        assert_eq!(c.tick(5 * S, at(5)), None);
        // A busy machine: 8 s late on both clocks.
        assert_eq!(c.tick(18 * S, at(18)), None);
        // NTP nudges the wall clock by a few seconds.
        assert_eq!(c.tick(23 * S, at(27)), None);
    }

    #[test]
    fn a_suspend_moves_the_wall_clock_but_not_the_monotonic_one() {
        let mut c = ResumeClock::new(100 * S, at(0), 5 * S);
        // Asleep for 3 minutes: monotonic moved the 5 s of the timer, the wall 185 s.
        assert_eq!(c.tick(105 * S, at(185)), Some(180 * S));
        // And the next wake-up is ordinary again.
        assert_eq!(c.tick(110 * S, at(190)), None);
    }

    #[test]
    fn a_stopped_process_wakes_late_on_both_clocks() {
        let mut c = ResumeClock::new(Duration::ZERO, at(0), 5 * S);
        assert_eq!(c.tick(195 * S, at(195)), Some(190 * S));
    }

    #[test]
    fn a_wall_clock_set_backwards_is_not_a_resume() {
        let mut c = ResumeClock::new(Duration::ZERO, at(3600), 5 * S);
        assert_eq!(c.tick(5 * S, at(0)), None);
        assert_eq!(c.tick(10 * S, at(5)), None);
    }

    #[test]
    fn away_reads_like_a_person_would_say_it() {
        assert_eq!(away(45 * S), "45 s");
        assert_eq!(away(190 * S), "3 min");
        assert_eq!(away(7500 * S), "2 h 5 min");
    }
}
