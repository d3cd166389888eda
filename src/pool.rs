//! Pools of warm worker processes beyond [`PoolSpec`](crate::PoolSpec): pool state, the
//! workers' environment and their logs.

pub use crate::orchestrator::pooled::Pools;
pub use taskorch_actors::{POOL_ENV, PoolState, WORKER_ENV, WorkerLog, WorkerLogLine};
