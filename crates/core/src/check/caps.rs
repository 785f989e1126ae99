//! Caps on what a Plan reports. Diagnostics quote the cluster's annotation values, and a hostile
//! cluster could make them (or the number of refusals and skipped objects) grow a Plan past the IPC
//! frame limit. Each text is cut at [`MAX_TEXT`] characters and each list at [`MAX_ITEMS`] entries,
//! the last one saying how many more there were.

use crate::diagnostics::{Diagnostic, ObjectRef};
use crate::plan::{Plan, Skipped};

/// The longest text (message, field, object name) a report keeps, in characters.
pub const MAX_TEXT: usize = 300;
/// The most entries each list of reports keeps (diagnostics, refused, skipped).
pub const MAX_ITEMS: usize = 100;

/// `text` cut to at most `max` characters (the cut marked with "…"), control characters escaped.
#[must_use]
pub fn capped(text: &str, max: usize) -> String {
    let escaped: String = text.chars().flat_map(char::escape_debug).collect();
    let escaped = if text.chars().any(char::is_control) {
        escaped
    } else {
        text.to_owned()
    };
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out: String = escaped.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn cap_in_place(text: &mut String) {
    if text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        *text = capped(text, MAX_TEXT);
    }
}

fn cap_object(object: &mut ObjectRef) {
    cap_in_place(&mut object.name);
}

/// Caps every report of `plan` in place: texts at [`MAX_TEXT`] characters, lists at [`MAX_ITEMS`]
/// entries. Refusals beyond the cap are counted in one more diagnostic (a refusal needs a range).
pub fn cap_reports(plan: &mut Plan) {
    let mut extra = Vec::new();
    if plan.refused.len() > MAX_ITEMS {
        let more = plan.refused.len() - MAX_ITEMS;
        plan.refused.truncate(MAX_ITEMS);
        extra.push(Diagnostic::object(
            ObjectRef::snapshot(),
            format!("… and {more} more refused ranges (not listed)"),
        ));
    }
    for r in &mut plan.refused {
        cap_in_place(&mut r.peer);
        if let Some(by) = &mut r.requested_by {
            cap_object(by);
        }
    }
    if plan.skipped.len() > MAX_ITEMS {
        let more = plan.skipped.len() - (MAX_ITEMS - 1);
        plan.skipped.truncate(MAX_ITEMS - 1);
        plan.skipped.push(Skipped {
            object: ObjectRef::snapshot(),
            reason: format!("… and {more} more skipped objects (not listed)"),
        });
    }
    for s in &mut plan.skipped {
        cap_object(&mut s.object);
        cap_in_place(&mut s.reason);
    }
    let room = MAX_ITEMS - extra.len();
    if plan.diagnostics.len() > room {
        let more = plan.diagnostics.len() - (room - 1);
        plan.diagnostics.truncate(room - 1);
        plan.diagnostics.push(Diagnostic::object(
            ObjectRef::snapshot(),
            format!("… and {more} more diagnostics (not listed)"),
        ));
    }
    plan.diagnostics.extend(extra);
    for d in &mut plan.diagnostics {
        cap_object(&mut d.object);
        if let Some(field) = &mut d.field {
            cap_in_place(field);
        }
        cap_in_place(&mut d.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_control_texts_are_cut_and_escaped() {
        assert_eq!(capped("short", 10), "short");
        let long = "x".repeat(1000);
        let cut = capped(&long, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
        assert_eq!(capped("a\nb", 10), "a\\nb");
    }
}
