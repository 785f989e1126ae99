//! How long each step of `cargo xtask test` took, printed at the end (also when a step failed), so
//! that CI's time budget (45 minutes) can be spent where it matters.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

static STEPS: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

/// Runs `step`, recording its duration under `name` (whether it succeeded or not).
pub fn timed<T>(name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let result = step();
    let secs = started.elapsed().as_secs_f64();
    if let Ok(mut steps) = STEPS.lock() {
        steps.push((name.to_owned(), secs));
    }
    eprintln!(
        "xtask: {name} {} in {secs:.0} s",
        if result.is_ok() { "passed" } else { "FAILED" }
    );
    result
}

/// The table of every step recorded so far, longest first.
pub fn report() -> String {
    let mut steps = STEPS.lock().map(|s| s.clone()).unwrap_or_default();
    steps.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = String::from("xtask: time per step (longest first)\n");
    for (name, secs) in steps {
        out.push_str(&format!("  {secs:7.1} s  {name}\n"));
    }
    out
}
