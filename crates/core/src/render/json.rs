//! The Plan as JSON: the whole Plan, with refusals, skipped items and diagnostics. The schema is
//! documented in `crates/core/docs/plan-json.md`; [`parse`] reads it back.

use crate::plan::Plan;

/// Renders `plan` as pretty JSON (with a final newline).
pub fn render(plan: &Plan) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(plan).map(|mut s| {
        s.push('\n');
        s
    })
}

/// Reads a Plan back from its JSON.
pub fn parse(text: &str) -> Result<Plan, serde_json::Error> {
    serde_json::from_str(text)
}
