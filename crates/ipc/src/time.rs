//! Unix time, in one place: the conversions of [`kubewire_core::time`] (pure), and the clock read
//! for the edges ([`now_secs`]). The sans-IO parts (the core, the state machines) take time as an
//! argument.

use std::time::SystemTime;

pub use kubewire_core::time::{from_unix_secs, unix_secs, unix_secs_signed};

/// Unix seconds now.
#[must_use]
pub fn now_secs() -> u64 {
    unix_secs(SystemTime::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2023() {
        assert!(super::now_secs() > 1_700_000_000);
    }
}
