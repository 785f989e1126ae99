//! What `connect` shows while it connects and follows: each step and event as a line of text on
//! stderr, or with `--json` as one JSON object a line on stdout:
//! `{"step": "kubeconfig", "ms": 1, "detail": "...", "text": "✓ kubeconfig ..."}` for a step,
//! `{"event": "plan-sent", "message": "...", "text": "..."}` for an event, and
//! `{"event": "connected", "ms", "context", "peer", "address", "text"}` /
//! `{"event": "disconnected", "peer_kept": bool, "text"}` / `{"event": "detached", "text"}`.
//! A `connect --detach`ed controller also appends every line to the events file its parent reads
//! (`KUBEWIRE_EVENTS_FILE`), so the parent shows the steps and never the background's log lines.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use kubewire_cluster::ControllerEvent;
use serde_json::{Value, json};

/// The environment variable naming the events file of a detached controller.
pub const EVENTS_FILE_ENV: &str = "KUBEWIRE_EVENTS_FILE";

/// Prints steps and events (cheap to clone: the printer task and `connect` share it).
#[derive(Debug, Clone)]
pub struct Progress {
    json: bool,
    tee: Option<Arc<Mutex<std::fs::File>>>,
}

impl Progress {
    /// Text on stderr, or JSON lines on stdout; plus the events file when this is a detached
    /// controller.
    pub fn new(json: bool) -> Self {
        let tee = std::env::var_os(EVENTS_FILE_ENV)
            .and_then(|path| {
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .ok()
            })
            .map(|f| Arc::new(Mutex::new(f)));
        Self { json, tee }
    }

    fn emit(&self, mut record: Value, text: &str) {
        record["text"] = Value::String(text.to_owned());
        let line = record.to_string();
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        } else {
            eprintln!("{text}");
        }
        if let Some(file) = &self.tee
            && let Ok(mut f) = file.lock()
        {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
    }

    /// A step or an event of the controller.
    pub fn event(&self, event: &ControllerEvent) {
        self.emit(record(event), &event.to_string());
    }

    /// A warning of `connect` itself.
    pub fn warning(&self, message: &str) {
        self.emit(
            json!({"event": "warning", "message": message}),
            &format!("warning: {message}"),
        );
    }

    /// Connected (the plan is applied).
    pub fn connected(&self, ms: u128, context: &str, peer: &str, address: &str, hint: &str) {
        self.emit(
            json!({"event": "connected", "ms": u64::try_from(ms).unwrap_or(u64::MAX), "context": context, "peer": peer, "address": address}),
            &format!("connected in {ms} ms to {context} as Peer {peer} ({address}); following the cluster. {hint}"),
        );
    }

    /// Stopped: `detached` (the tunnel stays), or disconnected with the Peer kept or deleted.
    pub fn finished(&self, detached: bool, peer_kept: bool) {
        if detached {
            self.emit(
                json!({"event": "detached"}),
                "stopped following; the tunnel stays up with its last plan",
            );
        } else if peer_kept {
            self.emit(
                json!({"event": "disconnected", "peer_kept": true}),
                "disconnected (the Peer stays registered)",
            );
        } else {
            self.emit(
                json!({"event": "disconnected", "peer_kept": false}),
                "disconnected",
            );
        }
    }
}

/// The JSON of one controller event (without `text`).
fn record(event: &ControllerEvent) -> Value {
    if let ControllerEvent::Step { step, took, detail } = event {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        return json!({"step": step, "ms": ms, "detail": detail});
    }
    let tag = serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("event").cloned())
        .unwrap_or_else(|| Value::String("event".into()));
    json!({"event": tag, "message": event.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_cluster::events::Step;
    use std::time::Duration;

    #[test]
    fn steps_and_events_have_their_schema() {
        let step = ControllerEvent::Step {
            step: Step::PeerRegistered,
            took: Duration::from_millis(12),
            detail: "kubewire-me at 10.4.0.9/32".into(),
        };
        assert_eq!(
            record(&step),
            json!({"step": "peer-registered", "ms": 12, "detail": "kubewire-me at 10.4.0.9/32"})
        );
        let warning = ControllerEvent::Warning { message: "x".into() };
        assert_eq!(
            record(&warning),
            json!({"event": "warning", "message": "warning: x"})
        );
    }
}
