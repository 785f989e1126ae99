//! The OS's word that the machine sleeps and wakes, whichever OS says it: logind's
//! `PrepareForSleep` on Linux (`logind.rs`), the service control manager's power events on Windows
//! (`power_windows.rs`). A resume heard here is handled like one the clocks tell
//! ([`crate::resume`]), which stays the fallback everywhere (and the only source on macOS, where the
//! monotonic clock stops during sleep, so the wall clock running ahead tells it).

use std::time::{Duration, SystemTime};

/// What the OS announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerEvent {
    /// The machine is about to sleep.
    Sleeping,
    /// It woke up.
    Resumed,
}

/// Remembers when the machine went to sleep, to tell how long it was away.
#[derive(Default)]
pub struct SleepClock {
    since: Option<SystemTime>,
}

impl SleepClock {
    /// `Some(away)` for a wake-up after an announced sleep. A second wake-up announcement (Windows
    /// sends "resumed automatically" and, when a user is back, "resumed by the user") or one with
    /// no sleep before it is nothing new: `None`.
    pub fn heard(&mut self, event: PowerEvent, now: SystemTime) -> Option<Duration> {
        match event {
            PowerEvent::Sleeping => {
                self.since = Some(now);
                None
            }
            PowerEvent::Resumed => self
                .since
                .take()
                .map(|since| now.duration_since(since).unwrap_or_default()),
        }
    }
}

/// The service control manager's `SERVICE_CONTROL_POWEREVENT` with its event type, as a
/// [`PowerEvent`] (Windows' `winuser.h` values; pure, so it is tested on every OS).
#[cfg(any(windows, test))]
pub mod service_control {
    use super::PowerEvent;

    /// `SERVICE_CONTROL_POWEREVENT`.
    pub const POWEREVENT: u32 = 0x0000_000D;
    /// `SERVICE_ACCEPT_POWEREVENT`: asks the service control manager for them.
    pub const ACCEPT_POWEREVENT: u32 = 0x0000_0040;
    const PBT_APMSUSPEND: u32 = 0x0004;
    const PBT_APMRESUMESUSPEND: u32 = 0x0007;
    const PBT_APMRESUMEAUTOMATIC: u32 = 0x0012;

    #[must_use]
    pub fn power_event(control: u32, event_type: u32) -> Option<PowerEvent> {
        if control != POWEREVENT {
            return None;
        }
        match event_type {
            PBT_APMSUSPEND => Some(PowerEvent::Sleeping),
            PBT_APMRESUMEAUTOMATIC | PBT_APMRESUMESUSPEND => Some(PowerEvent::Resumed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::service_control::{POWEREVENT, power_event};
    use super::*;

    #[test]
    fn a_wake_up_tells_how_long_the_machine_slept_once() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut clock = SleepClock::default();
        assert_eq!(
            clock.heard(PowerEvent::Resumed, t0),
            None,
            "no sleep was announced"
        );
        assert_eq!(clock.heard(PowerEvent::Sleeping, t0), None);
        let back = t0 + Duration::from_secs(180);
        assert_eq!(
            clock.heard(PowerEvent::Resumed, back),
            Some(Duration::from_secs(180))
        );
        assert_eq!(
            clock.heard(PowerEvent::Resumed, back),
            None,
            "the second announcement"
        );
    }

    #[test]
    fn windows_power_events_map_to_sleep_and_wake() {
        assert_eq!(power_event(POWEREVENT, 0x4), Some(PowerEvent::Sleeping));
        assert_eq!(power_event(POWEREVENT, 0x12), Some(PowerEvent::Resumed));
        assert_eq!(power_event(POWEREVENT, 0x7), Some(PowerEvent::Resumed));
        assert_eq!(
            power_event(POWEREVENT, 0xA),
            None,
            "a power status change is not a wake-up"
        );
        assert_eq!(power_event(0x1, 0x12), None, "a stop is not a power event");
        assert_eq!(super::service_control::ACCEPT_POWEREVENT, 0x40);
    }
}
