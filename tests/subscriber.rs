//! A tracing subscriber sees the runtime's spans, and children get
//! `TRACEPARENT`: in a test binary of its own, because a scoped
//! subscriber (`set_default`) races with parallel tests of the same
//! process over tracing's per-call-site interest cache (a span call site
//! first hit by another thread can keep the global no-op dispatcher's
//! "never"), which lost this test's spans in about half the runs of
//! `trace::`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use taskorch::Task;
use tracing::Instrument;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::Registry;

#[allow(unused_imports)]
mod common;
use common::start_runtime;

/// Spans as a subscriber sees them: id, name and fields.
type Seen = Arc<Mutex<Vec<(u64, String, HashMap<String, String>)>>>;

struct Capture(Seen);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
    tracing_subscriber::Layer<S> for Capture
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _ctx: Context<'_, S>,
    ) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((id.into_u64(), attrs.metadata().name().to_string(), fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: Context<'_, S>,
    ) {
        // `correlation` is recorded after the span is made. Span ids are
        // reused once closed: the newest span with this id is this one.
        let mut seen = self.0.lock().unwrap();
        if let Some((_, _, fields)) = seen.iter_mut().rev().find(|(s, ..)| *s == id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

// A current-thread runtime: every actor runs on the test's thread, where
// the scoped subscriber is the default.
#[tokio::test]
async fn a_tracing_subscriber_sees_message_and_run_spans_and_children_get_traceparent() {
    let seen: Seen = Arc::default();
    let subscriber = Registry::default().with(Capture(Arc::clone(&seen)));
    let _default = tracing::subscriber::set_default(subscriber);

    let rt = start_runtime().await;
    let caller = tracing::info_span!("checkout");
    let caller_id = caller.id().expect("the subscriber gives spans ids");
    let inside = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\""))
        .instrument(caller)
        .await
        .unwrap();
    let outside = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\""))
        .await
        .unwrap();
    let own = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\"").env("TRACEPARENT", "mine"))
        .instrument(tracing::info_span!("other"))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let message = seen
        .iter()
        .find(|(_, name, f)| {
            name == "message" && f.get("message").map(String::as_str) == Some("Run")
        })
        .expect("a message span");
    assert_eq!(message.2["actor"], "executor");
    let run_id = inside.run_id.to_string();
    let run = seen
        .iter()
        .find(|(_, name, f)| name == "run" && f.get("run_id") == Some(&run_id))
        .expect("a run span with the run id");
    assert_eq!(run.2["actor"], "executor");

    // W3C trace context: 00-<trace id>-<parent span id>-01, where the
    // trace id is the request's correlation id.
    let traceparent = inside.stdout_str();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent:?}");
    let correlation = rt.trace().for_run(inside.run_id).events()[0]
        .correlation()
        .unwrap();
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], correlation.to_string());
    assert_eq!(parts[2], format!("{:016x}", caller_id.into_u64()));
    assert_eq!(parts[3], "01");
    assert_eq!(run.2["correlation"], correlation.to_string());
    assert_eq!(outside.stdout_str(), "", "no span, no TRACEPARENT");
    assert_eq!(own.stdout_str(), "mine", "the task's own TRACEPARENT wins");
}
