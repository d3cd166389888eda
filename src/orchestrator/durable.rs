//! Durable state: closing the store, and the history of runs (the store
//! is opened and recovered by `taskorch_actors::Runtime::start`).

use std::sync::Arc;

use taskorch_actors::{Context, HistoryQuery, Result, RunId, RunInfo, StoredRun};

use super::Orchestrator;

/// Commit what is left and release the file.
pub(super) async fn close_store(ctx: &Arc<Context>) {
    let store = ctx.store().clone();
    if store.is_enabled() {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

impl Orchestrator {
    /// Runs matching `query` (name, status, accepted since / until, at
    /// most `limit`), newest first. With a store (`Config::store`) this is
    /// the durable history, runs from before a restart included, up to
    /// `Config::history_limit` finished runs; without one, the runs held
    /// in memory.
    ///
    /// ```no_run
    /// # fn f(orch: taskorch::Orchestrator) -> taskorch::Result<()> {
    /// use taskorch::{HistoryQuery, RunStatus};
    ///
    /// let failed = orch.history(HistoryQuery::new().status(RunStatus::Failed).limit(20))?;
    /// for run in failed {
    ///     println!("{} {} {:?}", run.id, run.name, run.finished);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// A query reads the store on the calling thread; one without a limit
    /// or a time window reads every stored run.
    ///
    /// # Errors
    /// `Store` if the file cannot be read, or the orchestrator has shut
    /// down (its store is closed).
    pub fn history(&self, query: HistoryQuery) -> Result<Vec<RunInfo>> {
        let store = self.inner.ctx.store();
        if store.is_enabled() {
            store.history(&query)
        } else {
            Ok(query.select(self.inner.ctx.registry().list()))
        }
    }

    /// Everything the store keeps of run `id`: its record, the task it
    /// ran, how it ended and its output lines (what `taskorch show` reads,
    /// alike through a running `up` and on the file). `None` without a
    /// store, or for a run the store does not hold.
    pub fn stored_run(&self, id: RunId) -> Option<StoredRun> {
        let store = self.inner.ctx.store();
        if store.is_enabled() {
            store.stored_run(id)
        } else {
            None
        }
    }
}
