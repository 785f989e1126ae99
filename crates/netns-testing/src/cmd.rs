//! Running commands: their output, or an error naming the command and its stderr.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `args[0] args[1..]` and returns its output, whatever its exit status.
pub fn output(args: &[&str]) -> Result<Output, String> {
    let (program, rest) = args.split_first().ok_or("no command")?;
    Command::new(program)
        .args(rest)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))
}

/// Runs `args` and returns its stdout when it succeeds, else an error with its stderr.
pub fn check(args: &[&str]) -> Result<String, String> {
    let out = output(args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Polls `f` every 50 ms until it holds (`true`) or `within` has passed (`false`).
pub fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
