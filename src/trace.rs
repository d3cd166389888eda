//! The message trace's events ([`TraceLog`](crate::TraceLog) is at the crate root):
//! what each event records, its kind and outcome, and the correlation ids that tie them.

pub use taskorch_actors::{CorrelationId, EventKind, Outcome, TRACEPARENT_ENV, TraceEvent};
