//! What the CLI prints on stderr: warnings, notes and errors, and the exit codes they lead to.

use std::process::ExitCode;

use kubewire_cluster::ClusterError;
use kubewire_core::Plan;
use kubewire_ipc::{ClientError, Problem};

/// Input the user gave is wrong (a bad snapshot file, a bad key file): one line per problem, exit 2.
#[derive(Debug)]
pub struct BadInput(pub Vec<String>);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for BadInput {}

/// A failure already reported on the terminal (e.g. failed doctor checks): exit with this code.
#[derive(Debug)]
pub struct Reported(pub u8);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failed (exit {})", self.0)
    }
}

impl std::error::Error for Reported {}

fn client_code(e: &ClientError) -> Option<u8> {
    match e {
        ClientError::NotRunning { .. } => Some(3),
        ClientError::PermissionDenied { .. } => Some(4),
        _ => None,
    }
}

/// The exit code for an error (see `kubewire --help`).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<BadInput>().is_some() {
            return 2;
        }
        if let Some(r) = cause.downcast_ref::<Reported>() {
            return r.0;
        }
        if let Some(code) = cause.downcast_ref::<ClientError>().and_then(client_code) {
            return code;
        }
        if let Some(e) = cause.downcast_ref::<ClusterError>() {
            match e {
                ClusterError::Unreachable { .. } | ClusterError::KiloMissing => return 5,
                ClusterError::Kubeconfig { .. }
                | ClusterError::NoKubeconfig { .. }
                | ClusterError::UnknownContext { .. }
                | ClusterError::NoCurrentContext
                | ClusterError::ClientConfig { .. } => return 2,
                ClusterError::Daemon(d) => {
                    if let Some(code) = client_code(d) {
                        return code;
                    }
                }
                _ => {}
            }
        }
    }
    1
}

/// Prints the error and picks the exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    let code = exit_code(error);
    if let Some(bad) = error.downcast_ref::<BadInput>() {
        for line in &bad.0 {
            eprintln!("error: {line}");
        }
    } else if error.downcast_ref::<Reported>().is_none() {
        eprint!("{}", error_lines(error));
    }
    ExitCode::from(code)
}

/// The error's [`Problem`] when it is one of the user side's errors with a fix.
fn problem(cause: &(dyn std::error::Error + 'static)) -> Option<Problem> {
    let problem = if let Some(e) = cause.downcast_ref::<ClientError>() {
        e.problem()
    } else if let Some(e) = cause.downcast_ref::<ClusterError>() {
        e.problem()
    } else {
        return None;
    };
    problem.fix.is_some().then_some(problem)
}

/// `error: …` (the contexts, then the problem) and, when the error has one, `fix: …` on its own
/// line.
fn error_lines(error: &anyhow::Error) -> String {
    let mut said = Vec::new();
    for cause in error.chain() {
        if let Some(Problem { what, fix: Some(fix) }) = problem(cause) {
            said.push(what);
            return format!("error: {}\nfix: {fix}\n", said.join(": "));
        }
        said.push(cause.to_string());
    }
    format!("error: {error:#}\n")
}

/// Prints the Plan's diagnostics and refusals as warnings, and skipped objects as notes.
pub fn warnings(plan: &Plan) {
    for d in &plan.diagnostics {
        eprintln!("warning: {d}");
    }
    for r in &plan.refused {
        eprintln!("warning: {r}");
    }
    for s in &plan.skipped {
        eprintln!("note: {s}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_with_a_fix_says_it_on_its_own_line() {
        let e = anyhow::Error::new(ClusterError::Daemon(ClientError::NotRunning {
            socket: "/run/kubewire/kubewired.sock".into(),
        }))
        .context("connecting");
        assert_eq!(
            error_lines(&e),
            "error: connecting: the kubewire daemon is not running (nothing listens at \
             /run/kubewire/kubewired.sock)\nfix: Start it: `sudo systemctl start kubewired` (or run \
             `sudo kubewired` in a terminal)\n"
        );
        let e = anyhow::Error::new(ClusterError::Api {
            what: "registering the Peer".into(),
            message: "409".into(),
        });
        assert_eq!(error_lines(&e), "error: registering the Peer: 409\n");
    }
}
