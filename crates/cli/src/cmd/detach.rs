//! `kubewire connect --detach`: the same command re-run in its own process group with its output in
//! the controller log; this process shows the child's steps (from the events file the child writes,
//! [`progress::EVENTS_FILE_ENV`]; never its log lines) until it is connected, or its error if it fails.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Global;
use super::controllers;
use super::progress;
use crate::output::Reported;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long after "connected" this command waits for the first handshake's step (the foreground
/// shows it a moment after connecting), before leaving it to the background.
const FIRST_HANDSHAKE_GRACE: Duration = Duration::from_secs(5);

/// Starts the background controller and waits until it is connected, showing its steps (from the
/// events file it writes, never its log) as text, or with `json` as the JSON lines themselves.
pub fn spawn(global: &Global, json: bool, name: &str) -> anyhow::Result<()> {
    if let Some(running) = controllers::of(name) {
        anyhow::bail!(
            "a kubewire controller already runs for the connection {name} (pid {}); run `kubewire \
             disconnect --name {name}` first, or connect under another name (`--name`)",
            running.pid
        );
    }
    let files = controllers::for_connection(name)?;
    let exe = std::env::current_exe().context("finding the kubewire binary")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).filter(|a| a != "--detach").collect();
    let log_path = files.log();
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let events_path = files.events();
    std::fs::File::create(&events_path).with_context(|| format!("creating {}", events_path.display()))?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .env("KUBEWIRE_SOCKET", &global.socket)
        .env(controllers::STEM_ENV, files.stem())
        .env(progress::EVENTS_FILE_ENV, &events_path)
        .env(
            "KUBEWIRE_LOG",
            std::env::var("KUBEWIRE_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("the log file")?)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group: Ctrl-C in this terminal does not reach it.
        command.process_group(0);
    }
    let mut child = command.spawn().context("starting the background controller")?;
    let started = Instant::now();
    let mut shown = 0;
    let mut connected: Option<Instant> = None;
    let mut handshake = false;
    loop {
        let text = std::fs::read_to_string(&events_path).unwrap_or_default();
        // Whole lines only.
        if let Some(end) = text.get(shown..).and_then(|t| t.rfind('\n')) {
            let end = shown + end + 1;
            for line in text[shown..end].lines() {
                let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if json {
                    println!("{line}");
                } else if let Some(text) = record["text"].as_str() {
                    eprintln!("{text}");
                }
                if record["event"] == "connected" {
                    connected = Some(Instant::now());
                }
                if record["step"] == "first-handshake" {
                    handshake = true;
                }
            }
            shown = end;
        }
        if connected.is_some_and(|at| handshake || at.elapsed() >= FIRST_HANDSHAKE_GRACE) {
            eprintln!(
                "kubewire follows the cluster in the background (pid {}, log {}); `kubewire disconnect` stops it",
                child.id(),
                log_path.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("watching the background controller")? {
            // Its error (or its last words) are in the log: show them, without its log lines.
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            for line in log
                .lines()
                .filter(|l| !is_log_line(l) && !l.starts_with("✓ ") && !l.starts_with('{'))
            {
                eprintln!("{line}");
            }
            let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
            return Err(Reported(code.max(1)).into());
        }
        if connected.is_none() && started.elapsed() > CONNECT_TIMEOUT {
            anyhow::bail!(
                "the background controller (pid {}) is not connected after {} s; see {}",
                child.id(),
                CONNECT_TIMEOUT.as_secs(),
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `tracing` line of any level (`2026-12-07T06:57:49.935Z  INFO target: ...`, maybe coloured):
/// it stays in the log file.
fn is_log_line(line: &str) -> bool {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // An ANSI colour sequence: ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let mut words = plain.split_whitespace();
    let timestamp = words
        .next()
        .is_some_and(|w| w.len() > 20 && w.as_bytes().get(4) == Some(&b'-') && w.contains('T'));
    timestamp && matches!(words.next(), Some("INFO" | "DEBUG" | "TRACE" | "WARN" | "ERROR"))
}

#[cfg(test)]
mod tests {
    use super::is_log_line;

    #[test]
    fn log_lines_are_told_from_steps_and_messages() {
        assert!(is_log_line(
            "\x1b[2m2026-12-07T06:57:49.935734Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mkubewire_cluster::connect\x1b[0m: connect step"
        ));
        assert!(is_log_line("2026-12-07T06:57:49.935734Z DEBUG kubewire: x"));
        assert!(is_log_line(
            "2026-12-07T06:57:49.935734Z  WARN kubewire: the key file is readable"
        ));
        assert!(!is_log_line("warning: no events from the daemon"));
        assert!(!is_log_line(
            "✓ kubeconfig                  1 ms  context kubewire-lab"
        ));
        assert!(!is_log_line("connected in 85 ms to kubewire-lab"));
    }
}
