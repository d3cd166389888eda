//! Queries over the run registry, for every pattern's runs.

use taskorch_actors::{RunInfo, RunQuery};

impl crate::events::Observer<'_> {
    /// Snapshots of the runs `query` matches (by status, name, pattern,
    /// most recent N), oldest first:
    ///
    /// ```no_run
    /// # fn f(orch: taskorch::Orchestrator) {
    /// use taskorch::{RunQuery, RunStatus};
    ///
    /// let failed = orch.observe().find_runs(&RunQuery::new().status(RunStatus::Failed));
    /// let in_flight = orch.observe().find_runs(&RunQuery::new().active());
    /// let last_exports = orch.observe().find_runs(&RunQuery::new().name("export").most_recent(10));
    /// # let _ = (failed, in_flight, last_exports);
    /// # }
    /// ```
    ///
    /// Finished runs are kept up to `Config::history_limit`; older ones no
    /// longer appear.
    pub fn find_runs(&self, query: &RunQuery) -> Vec<RunInfo> {
        self.orch.inner.ctx.registry().query(query)
    }
}
