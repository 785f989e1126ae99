//! Running the system's network tools (`ip`, `wg`, `iptables-restore`) with errors that say what failed.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(
        "could not start `{cmd}`: {source} (is it installed? `cargo xtask setup` installs the lab's tools)"
    )]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program args…`, returns its stdout; a non-zero exit is an error carrying stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, CmdError> {
    run_with_input(program, args, None)
}

/// Like [`run`], with `input` written to the program's stdin.
pub fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> Result<String, CmdError> {
    let cmd = describe(program, args);
    tracing::trace!(%cmd, "run");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CmdError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| CmdError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| CmdError::Spawn {
        cmd: cmd.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(CmdError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip args…` in the current (host) network namespace.
pub fn ip(args: &[&str]) -> Result<String, CmdError> {
    run("ip", args)
}

/// `ip -n NS args…`.
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String, CmdError> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// `ip netns exec NS program args…`.
pub fn exec_in(ns: &str, program: &str, args: &[&str]) -> Result<String, CmdError> {
    exec_in_with_input(ns, program, args, None)
}

/// `ip netns exec NS program args…` with `input` on stdin.
pub fn exec_in_with_input(
    ns: &str,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, CmdError> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run_with_input("ip", &all, input)
}
