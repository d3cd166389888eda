//! The store's one internal interface: what a [`Store`](super::Store)
//! handle asks of the database behind it, implemented by the embedded redb
//! file (`Shared` in `store.rs`, the default) and by PostgreSQL
//! (`postgres`, feature `postgres`).
//!
//! Writes are not part of it: both backends take the same [`Op`] journal
//! through a channel to one writer thread of their own, which commits
//! whatever has queued up in one transaction and answers the `Sync`s of
//! the batch only after the commit. That is what "acknowledged only after
//! commit" means for either backend, and it keeps the runtime's hooks
//! (`journal`, `sync`) blind to the backend.
//!
//! Reads log what they cannot read and answer `None` (or an empty list),
//! as the redb store always did: a reader outside the runtime (the CLI)
//! and the registry's fallbacks treat an unreadable row as a missing one.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use super::records::{JobRow, OutputRow, RunRow};
use super::{FaultSwitch, Op};
use crate::error::Result;
use crate::metrics::LatencyWindow;
use crate::run::{RunId, RunInfo, RunQuery};
use crate::task::Task;

/// A database behind a [`Store`](super::Store) (see the module docs).
pub(crate) trait Engine: Send + Sync {
    /// Where the data lives, for messages and errors: the file, or the
    /// PostgreSQL URL without its password.
    fn location(&self) -> &Path;

    /// The writer's queue; a send fails once the writer has stopped.
    fn ops(&self) -> &mpsc::Sender<Op>;

    /// Commit what is queued, stop the writer, release the database.
    /// Idempotent; blocking.
    fn close(&self);

    /// The switch that fails commits on purpose, if the backend has one.
    fn faults(&self) -> Option<Arc<FaultSwitch>>;

    /// How long each commit took.
    fn commits(&self) -> &LatencyWindow;

    /// Bytes the database takes (the file; 0 where unknown).
    fn size(&self) -> u64;

    /// The stored run `id`.
    fn run(&self, id: RunId) -> Option<RunRow>;

    /// The stored run `id` with its output.
    fn run_with_output(&self, id: RunId) -> Option<(RunRow, Option<OutputRow>)>;

    /// The task of graph task run `run`, from its graph's definition.
    fn task_of_run(&self, run: RunId) -> Option<Task>;

    /// The job options stored for run `id`.
    fn job(&self, id: RunId) -> Option<JobRow>;

    /// See [`Store::keyed_since`](super::Store::keyed_since).
    fn keyed_since(
        &self,
        since: std::time::SystemTime,
    ) -> Vec<(String, RunId, Option<std::time::SystemTime>)>;

    /// The stored status of task `index` of graph `key`.
    fn graph_task_status(&self, key: [u8; 16], index: u32) -> Option<super::StoredTaskStatus>;

    /// Runs matching `query`, newest first.
    fn history(&self, query: &RunQuery) -> Result<Vec<RunInfo>>;

    /// The nodes on record (see [`Store::nodes`](super::Store::nodes)):
    /// none for a backend without nodes.
    fn nodes(&self) -> Result<Vec<super::NodeInfo>> {
        Ok(Vec::new())
    }

    /// The redb store, for tests that look at its tables.
    #[cfg(test)]
    fn as_redb(&self) -> Option<&super::Shared> {
        None
    }
}
