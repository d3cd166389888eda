//! Named queues and priorities of runs (see `docs/jobs.md`):
//! [`QueueSpec`](crate::QueueSpec) (at the crate root) declares a queue with
//! `Orchestrator::queue`; [`Queues`] (from `Orchestrator::observe().queues()`) reads
//! their state as [`QueueState`]s; [`Rate`] is a queue's rate limit;
//! [`PERMIT_AGING`] is how fast waiting work gains urgency.

pub use crate::orchestrator::Queues;
pub use taskorch_actors::queues::{PERMIT_AGING, QueueState, Rate};
