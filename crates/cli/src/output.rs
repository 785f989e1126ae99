//! What the CLI prints on stderr: warnings, notes and errors, and the exit codes they lead to.

use std::process::ExitCode;

use kubewire_core::Plan;

/// Input the user gave is wrong (a bad snapshot file, a bad key file): one line per problem, exit 2.
#[derive(Debug)]
pub struct BadInput(pub Vec<String>);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for BadInput {}

/// Prints the error and picks the exit code: 2 for bad input, 1 otherwise.
pub fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(bad) = error.downcast_ref::<BadInput>() {
        for line in &bad.0 {
            eprintln!("error: {line}");
        }
        return ExitCode::from(2);
    }
    eprintln!("error: {error:#}");
    ExitCode::from(1)
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
