//! "Save bug report" in the window's Logs view: the same archive as `kubewire bug-report` (the CLI
//! installed beside the app makes it), with the tray's own recent log as the controller's log (the
//! tray runs its controller in-process), saved to the user's Downloads folder.

use std::path::PathBuf;
use std::time::Duration;

use crate::app::{App, lock};
use crate::types::{ErrorKind, UiError};

/// The CLI's path, when not beside this executable (tests, development builds).
pub const CLI_BIN_ENV: &str = "KUBEWIRE_CLI";
/// How long the report may take (it runs `doctor` and asks the cluster for a plan).
const TIMEOUT: Duration = Duration::from_secs(120);

fn failed(message: String) -> UiError {
    UiError {
        kind: ErrorKind::Other,
        title: "The bug report could not be written".into(),
        message,
        fix: "Run `kubewire bug-report` in a terminal: it says what went wrong.".into(),
        command: Some("kubewire bug-report".into()),
    }
}

/// Writes the report and answers its path.
pub async fn save(app: &App) -> Result<String, UiError> {
    let dir = dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let output = dir.join(format!("kubewire-bug-report-{stamp}.tar.gz"));
    // The tray's log, as the controller's (entries hold no keys; the report redacts again anyway).
    let log: PathBuf =
        std::env::temp_dir().join(format!("kubewire-tray-log-{}-{stamp}.txt", std::process::id()));
    let text: String = app
        .logs
        .entries()
        .iter()
        .map(|e| format!("{} {:?} {}: {}\n", e.time, e.level, e.target, e.message))
        .collect();
    std::fs::write(&log, text).map_err(|e| failed(format!("{}: {e}", log.display())))?;
    let context = lock(&app.model).state().context.clone();
    let mut command = tokio::process::Command::new(crate::sibling::binary("kubewire", CLI_BIN_ENV));
    command
        .arg("bug-report")
        .arg("--output")
        .arg(&output)
        .arg("--controller-log")
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(context) = context {
        command.arg("--context").arg(context);
    }
    let ran = tokio::time::timeout(TIMEOUT, command.output()).await;
    let _ = std::fs::remove_file(&log);
    match ran {
        Ok(Ok(out)) if out.status.success() => Ok(output.display().to_string()),
        Ok(Ok(out)) => Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())),
        Ok(Err(e)) => Err(failed(format!("starting kubewire: {e}"))),
        Err(_) => Err(failed(format!("it took longer than {} s", TIMEOUT.as_secs()))),
    }
}
