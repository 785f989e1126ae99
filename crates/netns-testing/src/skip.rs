//! Whether a namespace test can run here, and the strict rule of CI.

use std::process::Command;

/// Why a test needing root and `tools` cannot run here, or `None`.
pub fn cannot_run(tools: &[&str]) -> Option<String> {
    if !nix::unistd::getuid().is_root() {
        return Some("needs root (network namespaces)".into());
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    (!missing.is_empty()).then(|| format!("missing tools: {}", missing.join(", ")))
}

/// `true` when a test needing root and `tools` can run. Otherwise it says why and, under
/// `KUBEWIRE_TESTS_STRICT=1` (what `cargo xtask test` sets), panics: CI never passes by skipping.
pub fn can_run(tools: &[&str]) -> bool {
    let Some(why) = cannot_run(tools) else {
        return true;
    };
    if std::env::var_os("KUBEWIRE_TESTS_STRICT").is_some() {
        panic!(
            "this test cannot run here ({why}), and KUBEWIRE_TESTS_STRICT is set: run it as root after `cargo xtask setup`"
        );
    }
    eprintln!("skipped: {why} (KUBEWIRE_TESTS_STRICT=1 makes this a failure)");
    false
}
