//! OpenTelemetry (feature `otel`): runs exported through
//! `tracing-opentelemetry` into the SDK's in-memory exporter; the span of a
//! run, its parent, its attributes, and the `TRACEPARENT` its child gets.

use std::time::Duration;

use taskorch::otel::opentelemetry::Value;
use taskorch::otel::opentelemetry::trace::SpanId;
use taskorch::otel::opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use taskorch::{RunId, Task};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;

use crate::common::{start_runtime, wait_until};

/// An exporter and a scoped subscriber that feeds it. The tests run on a
/// current-thread runtime: every actor runs on the test's thread, where
/// the scoped subscriber is the default.
fn export() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    tracing::subscriber::DefaultGuard,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = Registry::default().with(taskorch::otel::layer(&provider));
    let guard = tracing::subscriber::set_default(subscriber);
    // Tests running in parallel without a subscriber may have cached "no
    // interest" for the runtime's span callsites while this one was being
    // installed: recompute it now that it is.
    tracing::callsite::rebuild_interest_cache();
    (exporter, provider, guard)
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.as_str().to_owned(),
            other => other.to_string(),
        })
}

/// The exported `run` span of `id`, once it ended (a run's span closes
/// just after its outcome is stored, so a waiter may be a moment early).
async fn run_span(exporter: &InMemorySpanExporter, id: RunId) -> SpanData {
    let id = id.to_string();
    let find = || {
        exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .find(|s| s.name == "run" && attr(s, "run_id").as_deref() == Some(id.as_str()))
    };
    assert!(
        wait_until(Duration::from_secs(5), || find().is_some()).await,
        "no run span for {id}"
    );
    find().unwrap()
}

fn traceparent_of(span: &SpanData) -> String {
    format!(
        "00-{}-{}-01",
        span.span_context.trace_id(),
        span.span_context.span_id()
    )
}

#[tokio::test]
async fn a_run_span_carries_id_pattern_status_and_is_parented_by_the_callers_span() {
    let (exporter, provider, _default) = export();
    let rt = start_runtime().await;

    let caller = tracing::info_span!("checkout");
    let out = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\""))
        .instrument(caller.clone())
        .await
        .unwrap();
    drop(caller);
    let run = run_span(&exporter, out.run_id).await;
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let checkout = spans
        .iter()
        .find(|s| s.name == "checkout")
        .expect("the caller's span is exported");

    assert_eq!(attr(&run, "pattern").as_deref(), Some("simple"));
    assert_eq!(attr(&run, "status").as_deref(), Some("succeeded"));
    assert_eq!(attr(&run, "actor").as_deref(), Some("executor"));
    assert_eq!(run.parent_span_id, checkout.span_context.span_id());
    assert_eq!(
        run.span_context.trace_id(),
        checkout.span_context.trace_id(),
        "the run joins the caller's trace"
    );
    assert_eq!(
        out.stdout_str(),
        traceparent_of(&run),
        "the child's TRACEPARENT names the run's span"
    );
}

#[tokio::test]
async fn a_launched_run_outlives_the_callers_span_and_keeps_it_as_parent() {
    let (exporter, provider, _default) = export();
    let rt = start_runtime().await;

    // Gated on a file so the run is still running when the caller's span
    // closes.
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("go");
    let script = format!(
        "while [ ! -e {g} ]; do sleep 0.02; done; printf %s \"$TRACEPARENT\"; exit 3",
        g = gate.display()
    );
    let caller = tracing::info_span!("enqueue");
    let id = rt
        .launch(Task::shell(script))
        .instrument(caller)
        .await
        .unwrap();
    provider.force_flush().unwrap();
    let enqueue = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "enqueue")
        .expect("the caller's span ended before the run did");
    std::fs::write(&gate, b"").unwrap();
    let out = rt.wait(id).await.unwrap();
    let run = run_span(&exporter, id).await;

    assert_eq!(run.parent_span_id, enqueue.span_context.span_id());
    assert_eq!(run.span_context.trace_id(), enqueue.span_context.trace_id());
    assert_eq!(attr(&run, "pattern").as_deref(), Some("fire_and_forget"));
    assert_eq!(attr(&run, "status").as_deref(), Some("failed"));
    assert_eq!(out.stdout_str(), traceparent_of(&run));
}

#[tokio::test]
async fn a_run_requested_outside_any_span_is_a_trace_of_its_own() {
    let (exporter, _provider, _default) = export();
    let rt = start_runtime().await;

    let first = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\""))
        .await
        .unwrap();
    let second = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\""))
        .await
        .unwrap();
    let a = run_span(&exporter, first.run_id).await;
    let b = run_span(&exporter, second.run_id).await;

    assert_eq!(a.parent_span_id, SpanId::INVALID, "a root span");
    assert_eq!(b.parent_span_id, SpanId::INVALID, "a root span");
    assert_ne!(a.span_context.trace_id(), b.span_context.trace_id());
    assert_eq!(first.stdout_str(), traceparent_of(&a));
    assert_eq!(second.stdout_str(), traceparent_of(&b));
    // A TRACEPARENT the task sets itself still wins.
    let own = rt
        .run(Task::shell("printf %s \"$TRACEPARENT\"").env("TRACEPARENT", "mine"))
        .await
        .unwrap();
    assert_eq!(own.stdout_str(), "mine");
}
