//! The commands of the contract (`docs/tray-contract.md`), as the window calls them over the link:
//! [`call`] takes the command's name and its arguments by name, and answers with the command's value
//! or a [`UiError`].

use kubewire_cluster::doctor::{self, DoctorInput, Outcome};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::{App, lock, publish};
use crate::types::{CheckStatus, DoctorCheck, ErrorKind, ResolveResult, Settings, UiError};
use crate::{actions, autostart, resolve, settings};

/// Runs command `cmd` with `args` (an object of named arguments, or null).
pub async fn call(app: &App, cmd: &str, args: Value) -> Result<Value, Value> {
    let result = match cmd {
        "get_state" => value(lock(&app.model).state()),
        "list_contexts" => actions::list_contexts(app).and_then(|c| value(&c)),
        "connect" => {
            let context: Option<String> = arg(&args, "context")?;
            actions::connect(app, context).await.and_then(|()| value(&()))
        }
        "disconnect" => actions::disconnect(app).await.and_then(|()| value(&())),
        "run_doctor" => value(&run_doctor(app).await),
        "resolve_name" => {
            let name: String = arg(&args, "name")?;
            value(&resolve_name(name).await)
        }
        "get_settings" => value(&*lock(&app.settings)),
        "set_settings" => {
            let settings: Settings = arg(&args, "settings")?;
            set_settings(app, settings).and_then(|s| value(&s))
        }
        "get_logs" => value(&app.logs.entries()),
        "expose" => {
            let port: u16 = arg(&args, "port")?;
            let target: Option<u16> = arg(&args, "target")?;
            let name: String = arg(&args, "name")?;
            let namespace: Option<String> = arg(&args, "namespace")?;
            let request = kubewire_cluster::exposing::ExposeRequest {
                port,
                target: target.unwrap_or(port),
                name,
                namespace: namespace.unwrap_or_else(|| "default".into()),
                protocol: kubewire_ipc::Protocol::Tcp,
                connection: None,
                kubeconfig: None,
            };
            actions::expose(app, &request).await.and_then(|w| value(&w))
        }
        "unexpose" => {
            let service: String = arg(&args, "service")?;
            actions::unexpose(app, &service).await.and_then(|()| value(&()))
        }
        "save_bug_report" => crate::bug_report::save(app).await.and_then(|path| value(&path)),
        other => Err(UiError {
            kind: ErrorKind::Other,
            title: "Unknown command".into(),
            message: format!("the tray has no command {other:?}"),
            fix: "Install the same version of kubewire-tray and kubewire-window.".into(),
            command: None,
        }),
    };
    result.map_err(|e| serde_json::to_value(e).unwrap_or(Value::Null))
}

fn value(v: &impl Serialize) -> Result<Value, UiError> {
    serde_json::to_value(v).map_err(|e| bad_request(&e.to_string()))
}

fn bad_request(message: &str) -> UiError {
    UiError {
        kind: ErrorKind::Other,
        title: "The window sent a request the tray cannot read".into(),
        message: message.to_owned(),
        fix: "Install the same version of kubewire-tray and kubewire-window.".into(),
        command: None,
    }
}

/// Argument `name` of `args` (missing is null, which optional arguments accept).
fn arg<T: DeserializeOwned>(args: &Value, name: &str) -> Result<T, Value> {
    let v = args.get(name).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| {
        serde_json::to_value(bad_request(&format!("argument {name}: {e}"))).unwrap_or(Value::Null)
    })
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

async fn run_doctor(shared: &App) -> Vec<DoctorCheck> {
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

async fn resolve_name(name: String) -> ResolveResult {
    let result = resolve::resolve(&name).await;
    tracing::info!(name = %result.name, rcode = %result.rcode, ms = result.ms, "resolve");
    result
}

fn set_settings(app: &App, settings: Settings) -> Result<Settings, UiError> {
    let settings = settings::validate(settings)?;
    let shared = app;
    if let Err(error) = autostart::set(settings.autostart) {
        // Disabling what was never enabled is not an error worth showing.
        if settings.autostart {
            return Err(UiError {
                kind: ErrorKind::Other,
                title: "Start at login could not be set".into(),
                message: error,
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
    publish(app, &[]);
    Ok(settings)
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
