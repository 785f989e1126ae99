//! Fault points: named steps between two changes to a file the daemon owns, where the crash tests
//! make the process abort (`std::process::abort()`: a crash, not an error) to prove that no crash
//! loses the user's original files.
//!
//! `KUBEWIRE_FAULT=<label>:<step>#<n>` aborts at the `n`th time that point is reached (`#1` when
//! omitted); `KUBEWIRE_FAULT_TRACE=<file>` appends every point reached (`<label>:<step>#<n>`, one a
//! line), which is how a test learns the points of a run before crashing at each one. Debug builds
//! only: in a release build [`point`] does nothing and reads no environment.

/// Aborts here when the fault points are armed for this one (debug builds only).
#[inline]
pub fn point(label: &str, step: &str) {
    #[cfg(debug_assertions)]
    armed::hit(label, step);
    #[cfg(not(debug_assertions))]
    let _ = (label, step);
}

/// The variable naming the point to crash at.
pub const FAULT_ENV: &str = "KUBEWIRE_FAULT";
/// The variable naming the file the points reached are appended to.
pub const TRACE_ENV: &str = "KUBEWIRE_FAULT_TRACE";

#[cfg(debug_assertions)]
mod armed {
    use std::collections::HashMap;
    use std::io::Write as _;
    use std::sync::{Mutex, OnceLock};

    struct Armed {
        crash_at: Option<(String, usize)>,
        trace: Option<std::fs::File>,
        seen: HashMap<String, usize>,
    }

    fn armed() -> Option<&'static Mutex<Armed>> {
        static ARMED: OnceLock<Option<Mutex<Armed>>> = OnceLock::new();
        ARMED
            .get_or_init(|| {
                let crash_at = std::env::var(super::FAULT_ENV)
                    .ok()
                    .map(|v| match v.rsplit_once('#') {
                        Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
                        None => (v, 1),
                    });
                let trace = std::env::var_os(super::TRACE_ENV)
                    .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
                (crash_at.is_some() || trace.is_some()).then(|| {
                    Mutex::new(Armed {
                        crash_at,
                        trace,
                        seen: HashMap::new(),
                    })
                })
            })
            .as_ref()
    }

    pub(super) fn hit(label: &str, step: &str) {
        let Some(armed) = armed() else { return };
        let Ok(mut armed) = armed.lock() else { return };
        let name = format!("{label}:{step}");
        let n = {
            let count = armed.seen.entry(name.clone()).or_insert(0);
            *count += 1;
            *count
        };
        if let Some(trace) = armed.trace.as_mut() {
            let _ = writeln!(trace, "{name}#{n}");
        }
        if armed
            .crash_at
            .as_ref()
            .is_some_and(|(at, k)| *at == name && *k == n)
        {
            tracing::error!(point = %name, n, "fault injected: crashing here");
            std::process::abort();
        }
    }
}
