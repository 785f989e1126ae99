//! Watches: newline-delimited JSON events streamed in a chunked response. From "now" (synthetic
//! ADDED events for the current objects), from a resourceVersion (replayed history), or as a
//! streaming list (ADDED for each object, then a BOOKMARK annotated `k8s.io/initial-events-end`).
//! Periodic BOOKMARKs, `timeoutSeconds`, selectors (objects that stop or start matching turn into
//! DELETED and ADDED, as with the watch cache) and 410 Expired in both forms.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until};

use super::http::{Body, bytes_response, error_response};
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, ExpiredMode, Store, StoreEvent};
use super::table::{IncludeObject, partial_metadata, table};

/// How event objects are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The objects themselves.
    Object,
    /// `PartialObjectMetadata`.
    Metadata,
    /// A one-row `Table` per event.
    Table(IncludeObject),
}

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// The watched resource.
    pub rt: ResourceType,
    /// Namespace filter (`None`: all).
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`: end the initial ADDED events with an initial-events-end BOOKMARK.
    pub initial_events_end: bool,
    /// Event object rendering.
    pub format: Format,
}

struct WatchState {
    spec: WatchSpec,
    pending: VecDeque<Bytes>,
    rx: tokio::sync::broadcast::Receiver<Arc<StoreEvent>>,
    last_rv: u64,
    /// Events up to this resourceVersion were asked not to be sent (a watch from a future version).
    skip_until: u64,
    deadline: Instant,
    next_bookmark: Option<Instant>,
    interval: Duration,
    done: bool,
}

fn line(type_: &str, object: Value) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

impl WatchSpec {
    fn selects(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event a watcher with this spec sees for a store event, if any.
    fn classify<'a>(&self, ev: &'a StoreEvent) -> Option<(&'static str, &'a Value)> {
        if ev.group != self.rt.group || ev.plural != self.rt.plural {
            return None;
        }
        if let Some(ns) = &self.namespace
            && self.rt.namespaced
            && *ns != ev.key.0
        {
            return None;
        }
        let now = self.selects(&ev.object);
        match ev.kind {
            EventType::Added => now.then_some(("ADDED", &ev.object)),
            EventType::Deleted => now.then_some(("DELETED", &ev.object)),
            EventType::Modified => {
                let before = ev.old.as_ref().is_some_and(|o| self.selects(o));
                match (before, now) {
                    (true, true) => Some(("MODIFIED", &ev.object)),
                    (false, true) => Some(("ADDED", &ev.object)),
                    (true, false) => Some(("DELETED", &ev.object)),
                    (false, false) => None,
                }
            }
        }
    }

    fn render(&self, obj: &Value) -> Value {
        match self.format {
            Format::Object => obj.clone(),
            Format::Metadata => partial_metadata(obj),
            Format::Table(include) => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                table(
                    &self.rt,
                    std::slice::from_ref(obj),
                    include,
                    json!({"resourceVersion": rv}),
                )
            }
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}),
        )
    }
}

impl WatchState {
    fn push_event(&mut self, ev: &StoreEvent) {
        if let Some((type_, obj)) = self.spec.classify(ev) {
            let rendered = self.spec.render(obj);
            self.pending.push_back(line(type_, rendered));
        }
    }

    async fn next(mut self) -> Option<(Result<Frame<Bytes>, Infallible>, Self)> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some((Ok(Frame::data(b)), self));
            }
            if self.done {
                return None;
            }
            let bookmark_at = self.next_bookmark;
            tokio::select! {
                _ = sleep_until(self.deadline) => return None,
                _ = async { if let Some(at) = bookmark_at { sleep_until(at).await } else { std::future::pending().await } } => {
                    self.pending.push_back(self.spec.bookmark(self.last_rv, false));
                    self.next_bookmark = Some(Instant::now() + self.interval);
                }
                r = self.rx.recv() => match r {
                    Ok(ev) => {
                        self.last_rv = self.last_rv.max(ev.rv);
                        if ev.rv > self.skip_until {
                            self.push_event(&ev);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let err = ApiError::expired("the watcher fell too far behind: too old resource version");
                        self.pending.push_back(line("ERROR", err.to_status()));
                        self.done = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// Serves a watch request: from "now" when `from` is `None`, else after resourceVersion `from`.
pub fn watch_response(store: &Store, spec: WatchSpec, from: Option<u64>) -> Response<Body> {
    let sub = match store.subscribe(&spec.rt, from) {
        Ok(sub) => sub,
        Err(err) if err.code == 410 && store.expired_mode() == ExpiredMode::InStreamError => {
            // HTTP 200, one ERROR event, end of stream: what the watch cache does.
            return bytes_response(200, "application/json", line("ERROR", err.to_status()));
        }
        Err(err) => return error_response(&err),
    };
    let interval = store.bookmark_interval();
    let mut state = WatchState {
        pending: VecDeque::new(),
        rx: sub.rx,
        last_rv: sub.rv.max(from.unwrap_or(0)),
        skip_until: from.unwrap_or(0),
        deadline: Instant::now() + spec.timeout,
        next_bookmark: spec.bookmarks.then(|| Instant::now() + interval),
        interval,
        done: false,
        spec,
    };
    for ev in &sub.initial {
        state.push_event(ev);
    }
    if state.spec.initial_events_end {
        let b = state.spec.bookmark(sub.rv, true);
        state.pending.push_back(b);
    }
    let stream = futures::stream::unfold(state, WatchState::next);
    let mut resp = bytes_response(200, "application/json", Bytes::new());
    *resp.body_mut() = StreamBody::new(stream).boxed_unsync();
    resp
}
