//! The Tauri commands of the contract (`docs/tray-contract.md`). Each failure is a [`UiError`].

use kubewire_cluster::doctor::{self, DoctorInput, Outcome};
use tauri::AppHandle;
use tauri_plugin_autostart::ManagerExt;

use crate::app::{lock, publish, shared};
use crate::types::{
    AppState, CheckStatus, ContextInfo, DoctorCheck, ErrorKind, LogEntry, ResolveResult, Settings, UiError,
};
use crate::{actions, resolve, settings};

#[tauri::command]
pub fn get_state(app: AppHandle) -> AppState {
    lock(&shared(&app).model).state().clone()
}

#[tauri::command]
pub fn list_contexts(app: AppHandle) -> Result<Vec<ContextInfo>, UiError> {
    actions::list_contexts(&app)
}

#[tauri::command]
pub async fn connect(app: AppHandle, context: Option<String>) -> Result<(), UiError> {
    actions::connect(&app, context).await
}

#[tauri::command]
pub async fn disconnect(app: AppHandle) -> Result<(), UiError> {
    actions::disconnect(&app).await
}

/// A doctor result in the contract's terms: skipped checks and notes are warnings.
fn check(c: doctor::Check) -> DoctorCheck {
    let (status, detail) = match c.outcome {
        Outcome::Pass => (CheckStatus::Pass, c.detail),
        Outcome::Fail => (CheckStatus::Fail, c.detail),
        Outcome::Skip => (CheckStatus::Warn, format!("skipped: {}", c.detail)),
        Outcome::Note => (CheckStatus::Warn, c.detail),
    };
    DoctorCheck {
        name: if c.outcome == Outcome::Note {
            format!("{} (note)", c.name)
        } else {
            c.name
        },
        status,
        detail,
        fix: c.fix,
    }
}

#[tauri::command]
pub async fn run_doctor(app: AppHandle) -> Vec<DoctorCheck> {
    let shared = shared(&app);
    let settings = lock(&shared.settings).clone();
    let context = lock(&shared.model)
        .state()
        .context
        .clone()
        .or_else(|| settings.last_context.clone());
    let input = DoctorInput {
        socket: shared.socket.clone(),
        kubeconfig: None,
        context: context.clone(),
        options: actions::options(&settings, context).map_err(|e| e.message),
    };
    let checks = doctor::run(&input).await;
    tracing::info!(failed = doctor::failed(&checks), "doctor");
    unique_names(checks.into_iter().map(check).collect())
}

/// Notes share their check's name; the window keys rows by name, so later ones are numbered.
fn unique_names(mut checks: Vec<DoctorCheck>) -> Vec<DoctorCheck> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for c in &mut checks {
        let n = seen.entry(c.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            c.name = format!("{} ({n})", c.name);
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_rows_get_unique_names_and_notes_are_warnings() {
        let note = doctor::Check {
            name: "nodes ready".into(),
            outcome: Outcome::Note,
            detail: "skipped a".into(),
            fix: None,
        };
        let rows = unique_names(vec![check(note.clone()), check(note)]);
        assert_eq!(rows[0].name, "nodes ready (note)");
        assert_eq!(rows[1].name, "nodes ready (note) (2)");
        let checks = vec![
            doctor::Check {
                name: "handshakes".into(),
                outcome: Outcome::Pass,
                detail: "4 peers, all recent".into(),
                fix: None,
            },
            doctor::Check {
                name: "handshakes".into(),
                outcome: Outcome::Note,
                detail: "no controller".into(),
                fix: None,
            },
            doctor::Check {
                name: "route conflicts".into(),
                outcome: Outcome::Skip,
                detail: "no plan".into(),
                fix: None,
            },
        ];
        let rows = unique_names(checks.into_iter().map(check).collect());
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["handshakes", "handshakes (note)", "route conflicts"]);
        assert_eq!(rows[1].status, CheckStatus::Warn);
        assert_eq!(rows[2].detail, "skipped: no plan");
    }
}

#[tauri::command]
pub async fn resolve_name(name: String) -> ResolveResult {
    let result = resolve::resolve(&name).await;
    tracing::info!(name = %result.name, rcode = %result.rcode, ms = result.ms, "resolve");
    result
}

#[tauri::command]
pub fn get_settings(app: AppHandle) -> Settings {
    lock(&shared(&app).settings).clone()
}

#[tauri::command]
pub fn set_settings(app: AppHandle, settings: Settings) -> Result<Settings, UiError> {
    let settings = settings::validate(settings)?;
    let shared = shared(&app);
    let autolaunch = app.autolaunch();
    let autostart = if settings.autostart {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    if let Err(error) = autostart {
        // Disabling what was never enabled is not an error worth showing.
        if settings.autostart {
            return Err(UiError {
                kind: ErrorKind::Other,
                title: "Start at login could not be set".into(),
                message: error.to_string(),
                fix: "Check that your autostart folder (~/.config/autostart) is writable.".into(),
                command: None,
            });
        }
    }
    if let Some(path) = &shared.settings_path {
        settings::save(path, &settings).map_err(|e| UiError {
            kind: ErrorKind::Other,
            title: "The settings could not be saved".into(),
            message: format!("{}: {e}", path.display()),
            fix: "Check that your config folder is writable.".into(),
            command: None,
        })?;
    }
    *lock(&shared.settings) = settings.clone();
    tracing::info!("settings saved");
    publish(&app, &shared, &[]);
    Ok(settings)
}

#[tauri::command]
pub fn get_logs(app: AppHandle) -> Vec<LogEntry> {
    shared(&app).logs.entries()
}
