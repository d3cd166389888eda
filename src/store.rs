//! Durable state (`Config::store`): what the store keeps of a run (its history is
//! queried with [`RunQuery`](crate::RunQuery), through `orch.observe().history`),
//! and which backend keeps it: [`StoreConfig`] (a redb file, the default, or
//! PostgreSQL with the `postgres` feature; see docs/postgres.md).

pub use taskorch_actors::{NodeInfo, PostgresUrl, StoreConfig, StoredRun};
