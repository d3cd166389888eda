//! A node of the store: one orchestrator started on it, as the store
//! records it (the PostgreSQL backend; see `postgres::nodes`).

use std::time::SystemTime;

/// One orchestrator that started on the store: its identity and liveness
/// (see [`Store::nodes`](super::Store::nodes)). Times are the database's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id (a UUID v7, new at every start).
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started.
    pub started: SystemTime,
    /// Its last heartbeat.
    pub heartbeat: SystemTime,
    /// When it stopped cleanly (`None`: it has not, or it died).
    pub stopped: Option<SystemTime>,
    /// Whether it is up: not stopped, and its heartbeat is within the
    /// lease (15 s).
    pub live: bool,
}
