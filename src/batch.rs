//! Batches with a handle: start one, watch its progress, cancel it
//! ([`Orchestrator::start_batch`](crate::Orchestrator::start_batch)).

pub use taskorch_actors::{Batch, BatchProgress, BatchSpec};
