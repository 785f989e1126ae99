//! The results of `kubewire doctor`: one [`Check`] per line, built by a [`Report`], and their JSON
//! form (`doctor --json`): `{"checks": [{"name", "status": "ok"|"warn"|"fail", "detail", "fix"}]}`.

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed; `fix` says what to do.
    Fail,
    /// It could not run (`detail` says why).
    Skip,
    /// A remark about the check before it: something to look at, not a failure.
    Note,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The check's name ("kubeconfig", "handshakes"…); a note carries the name of its check.
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found (or the problem, or why it was skipped, or the note's text).
    pub detail: String,
    /// For failures: what to do (may span lines).
    pub fix: Option<String>,
}

/// The checks so far; notes attach to the last check.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    last: String,
}

impl Report {
    pub(crate) fn push(&mut self, name: &str, outcome: Outcome, detail: &str, fix: Option<&str>) {
        if outcome != Outcome::Note {
            name.clone_into(&mut self.last);
        }
        self.checks.push(Check {
            name: name.to_owned(),
            outcome,
            detail: detail.to_owned(),
            fix: fix.map(str::to_owned),
        });
    }
    pub(crate) fn ok(&mut self, name: &str, detail: &str) {
        self.push(name, Outcome::Pass, detail, None);
    }
    pub(crate) fn fail(&mut self, name: &str, problem: &str, fix: &str) {
        self.push(name, Outcome::Fail, problem, Some(fix));
    }
    /// A failure with the error's own problem and fix (`otherwise` when it has none).
    pub(crate) fn fail_with(&mut self, name: &str, problem: kubewire_ipc::Problem, otherwise: &str) {
        let fix = problem.fix.unwrap_or_else(|| otherwise.to_owned());
        self.fail(name, &problem.what, &fix);
    }
    pub(crate) fn note(&mut self, text: &str) {
        let name = self.last.clone();
        self.push(&name, Outcome::Note, text, None);
    }
    /// A warning of its own (not a remark on the check before), with what to do.
    pub(crate) fn warn(&mut self, name: &str, text: &str, fix: &str) {
        self.push(name, Outcome::Note, text, Some(fix));
    }
    pub(crate) fn skip(&mut self, name: &str, why: &str) {
        self.push(name, Outcome::Skip, why, None);
    }
}

/// How many checks failed.
#[must_use]
pub fn failed(checks: &[Check]) -> usize {
    checks.iter().filter(|c| c.outcome == Outcome::Fail).count()
}

/// How many checks warn (notes and skipped checks).
#[must_use]
pub fn warnings(checks: &[Check]) -> usize {
    checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Note | Outcome::Skip))
        .count()
}

/// A check's status in `doctor --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonStatus {
    /// Passed.
    Ok,
    /// A note, or a check that could not run.
    Warn,
    /// Failed; `fix` says what to do.
    Fail,
}

/// One check in `doctor --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonCheck {
    /// The check's name.
    pub name: String,
    /// ok, warn or fail.
    pub status: JsonStatus,
    /// What was found; for a skipped check "skipped: why".
    pub detail: String,
    /// What to do, or null.
    pub fix: Option<String>,
}

/// `doctor --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonReport {
    /// Every check, in order.
    pub checks: Vec<JsonCheck>,
}

/// The checks in the JSON schema.
#[must_use]
pub fn json(checks: &[Check]) -> JsonReport {
    JsonReport {
        checks: checks
            .iter()
            .map(|c| JsonCheck {
                name: c.name.clone(),
                status: match c.outcome {
                    Outcome::Pass => JsonStatus::Ok,
                    Outcome::Fail => JsonStatus::Fail,
                    Outcome::Skip | Outcome::Note => JsonStatus::Warn,
                },
                detail: if c.outcome == Outcome::Skip {
                    format!("skipped: {}", c.detail)
                } else {
                    c.detail.clone()
                },
                fix: c.fix.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_has_exactly_the_four_fields() {
        let mut r = Report::default();
        r.ok("kubeconfig", "context lab");
        r.note("a remark");
        r.skip("handshakes", "not connected");
        r.fail("daemon", "not running", "start it");
        let v = serde_json::to_value(json(&r.checks)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"checks": [
                {"name": "kubeconfig", "status": "ok", "detail": "context lab", "fix": null},
                {"name": "kubeconfig", "status": "warn", "detail": "a remark", "fix": null},
                {"name": "handshakes", "status": "warn", "detail": "skipped: not connected", "fix": null},
                {"name": "daemon", "status": "fail", "detail": "not running", "fix": "start it"},
            ]})
        );
        assert_eq!(failed(&r.checks), 1);
        assert_eq!(warnings(&r.checks), 2);
    }
}
