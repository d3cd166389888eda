//! The event stream ([`Orchestrator::subscribe`](crate::Orchestrator::subscribe)): runs,
//! workflows, schedules, restarts, halts and breakers as they happen, in a stable JSON form.

pub use taskorch_actors::{EVENT_SCHEMA_VERSION, Event, EventBody, EventItem, EventStream};
