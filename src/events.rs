//! The event stream ([`Observer::subscribe`], from `orch.observe()`): runs,
//! workflows, schedules, restarts, halts and breakers as they happen, in a stable JSON form.

pub use crate::orchestrator::Observer;
pub use taskorch_actors::{EVENT_SCHEMA_VERSION, Event, EventBody, EventItem, EventStream};
