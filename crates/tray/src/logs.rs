//! Recent log entries for the window: a tracing layer keeping the last [`CAPACITY`] entries and
//! handing each new one to a channel (the app emits them as `log` events).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::types::{LogEntry, LogLevel};

/// How many entries are kept.
pub const CAPACITY: usize = 500;

/// The kept entries, shared with the layer.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    entries: Arc<Mutex<VecDeque<LogEntry>>>,
}

impl LogBuffer {
    /// The entries, oldest first.
    #[must_use]
    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn push(&self, entry: LogEntry) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() == CAPACITY {
                e.pop_front();
            }
            e.push_back(entry);
        }
    }
}

/// The layer: keeps entries in its buffer and sends each to `tx`.
#[derive(Debug)]
pub struct LogLayer {
    buffer: LogBuffer,
    tx: mpsc::UnboundedSender<LogEntry>,
}

impl LogLayer {
    /// A layer over `buffer`; new entries also go to the returned receiver.
    #[must_use]
    pub fn new(buffer: LogBuffer) -> (Self, mpsc::UnboundedReceiver<LogEntry>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { buffer, tx }, rx)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

fn level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        _ => LogLevel::Debug,
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let entry = LogEntry {
            time: kubewire_ipc::time::now_secs(),
            level: level(event.metadata().level()),
            target: event.metadata().target().to_owned(),
            message: format!("{}{}", fields.message, fields.rest),
        };
        self.buffer.push(entry.clone());
        let _ = self.tx.send(entry);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::prelude::*;

    use super::*;

    #[test]
    fn the_layer_keeps_the_last_entries_with_their_fields() {
        let buffer = LogBuffer::default();
        let (layer, mut rx) = LogLayer::new(buffer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..(CAPACITY + 3) {
                tracing::info!(step = i, "connect step");
            }
            tracing::warn!("last");
        });
        let entries = buffer.entries();
        assert_eq!(entries.len(), CAPACITY);
        assert_eq!(entries[0].message, "connect step step=4");
        let last = entries.last().unwrap();
        assert_eq!(last.message, "last");
        assert_eq!(last.level, LogLevel::Warn);
        assert!(last.target.contains("logs"));
        assert_eq!(rx.try_recv().unwrap().message, "connect step step=0");
    }
}
