//! Durable state (`Config::store`): what the store keeps of a run (its history is
//! queried with [`RunQuery`](crate::RunQuery), through `orch.observe().history`).

pub use taskorch_actors::StoredRun;
