//! Durable state (`Config::store`): the history query and what the store keeps of a run.

pub use taskorch_actors::{HistoryQuery, StoredRun};
