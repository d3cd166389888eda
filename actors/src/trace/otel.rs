//! OpenTelemetry trace context for runs (feature `otel`).
//!
//! Without an OpenTelemetry layer in the `tracing` subscriber, a run's
//! `run` span is parented like any `tracing` span and a child's
//! `TRACEPARENT` is derived from the request's correlation (see
//! `correlation`). With `tracing-opentelemetry`'s layer installed:
//! - the caller's OpenTelemetry span is read when the request is made
//!   ([`OtelParent::of_caller`]) and carried, as plain `Copy` ids, in the
//!   request's [`Correlation`](super::Correlation) to wherever the run
//!   starts (an actor's task, possibly long after the caller's span
//!   closed: holding the `tracing::Span` itself would keep it open);
//! - the run's span is made a child of it ([`adopt`]), or, when the caller
//!   had none, the root of a trace of its own: one trace per run, never a
//!   child of whichever actor message happened to start it;
//! - the child's `TRACEPARENT` names the run's span ([`traceparent`]), so
//!   what the child exports joins the same trace under the run.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The caller's OpenTelemetry span, as ids: what a run's span is parented
/// by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtelParent {
    trace_id: u128,
    span_id: u64,
    flags: u8,
}

impl OtelParent {
    /// The OpenTelemetry span of the caller's current `tracing` span:
    /// `None` when there is no current span or no OpenTelemetry layer.
    pub fn of_caller() -> Option<Self> {
        Self::of(&tracing::Span::current())
    }

    fn of(span: &tracing::Span) -> Option<Self> {
        let cx = span.context();
        let span_ref = cx.span();
        let sc = span_ref.span_context();
        sc.is_valid().then(|| OtelParent {
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            flags: sc.trace_flags().to_u8(),
        })
    }

    fn context(&self) -> opentelemetry::Context {
        opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(self.span_id),
            TraceFlags::new(self.flags),
            // Not remote: the parent is in this process; the ids are only
            // carried across tasks.
            false,
            TraceState::default(),
        ))
    }
}

/// Parent the (not yet entered) `span` of a run by `parent`, or make it
/// the root of a new trace. A no-op without an OpenTelemetry layer.
pub(crate) fn adopt(span: &tracing::Span, parent: Option<OtelParent>) {
    let cx = match parent {
        Some(parent) => parent.context(),
        None => opentelemetry::Context::new(),
    };
    // Errors only when there is no OpenTelemetry layer (nothing to do) or
    // the span was already entered, which the caller rules out.
    let _ = span.set_parent(cx);
}

/// The W3C `traceparent` of the current span (the run's, where the runner
/// asks): `None` without an OpenTelemetry layer.
pub(crate) fn traceparent() -> Option<String> {
    OtelParent::of(&tracing::Span::current()).map(|span| {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            span.trace_id, span.span_id, span.flags
        )
    })
}
