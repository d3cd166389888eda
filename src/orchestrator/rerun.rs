//! Reruns: a finished run's task started again as a new launched run,
//! linked to the old one.

use taskorch_actors::{Error, Result, RunId, Task};

use super::Orchestrator;

impl Orchestrator {
    /// Start the task of the finished run `id` again, as a new
    /// fire-and-forget run (as [`launch`](Self::launch) would), and return
    /// the new run's id. The new run records the old one
    /// ([`RunRecord::rerun_of`](taskorch_actors::registry::RunRecord::rerun_of),
    /// [`StoredRun::rerun_of`](taskorch_actors::StoredRun::rerun_of)); the
    /// old run is left as it was.
    ///
    /// The task is the one the old run was accepted with: kept in memory
    /// by the registry for every run admitted with its task (`run`,
    /// `stream`, `launch`, batches, schedules, `execute`), and read from
    /// the store for a run from before a restart or one the registry no
    /// longer holds. It keeps its labels, priority and queue, but not its
    /// key (a key names one piece of work: the rerun is found through
    /// `rerun_of` instead, and a key's deduplication would hand back the
    /// old run) nor its delayed start (a rerun by hand starts at once).
    ///
    /// Any finished run can be rerun, whatever its status (a succeeded run
    /// too); see [`RunQuery::dead_letter`](taskorch_actors::RunQuery::dead_letter)
    /// for the runs that failed for good.
    ///
    /// ```no_run
    /// # async fn f(orch: taskorch::Orchestrator, failed: taskorch::RunId) -> taskorch::Result<()> {
    /// let again = orch.rerun(failed).await?;
    /// let out = orch.wait(again).await?;
    /// # let _ = out;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - `UnknownRun`: no run `id` in the registry or the store;
    /// - `RunStillActive`: `id` is still queued or running;
    /// - `TaskNotKept`: its task is not at hand (a task graph's run
    ///   without a store, which was admitted without its task);
    /// - what [`launch`](Self::launch) returns for the task: for an
    ///   in-process action whose name is no longer registered,
    ///   `UnknownAction`; a program that is gone, `NotFound`; `QueueFull`,
    ///   `ShuttingDown`.
    ///
    /// # Cancel safety
    /// As [`launch`](Self::launch): dropped early, the rerun may or may
    /// not have been accepted.
    pub async fn rerun(&self, id: RunId) -> Result<RunId> {
        self.inner.ctx.shutdown().check()?;
        let task = self.rerun_task(id)?;
        self.submit_launch(task, Some(id)).await
    }

    /// The task a rerun of `id` starts.
    fn rerun_task(&self, id: RunId) -> Result<Task> {
        let registry = self.inner.ctx.registry();
        let status = registry.status(id).ok_or(Error::UnknownRun(id))?;
        if !status.is_terminal() {
            return Err(Error::RunStillActive(id));
        }
        let kept = registry
            .get(id)
            .and_then(|record| record.task().map(|task| Task::clone(task)));
        let store = registry.store();
        let task = match kept {
            Some(task) => task,
            None => store
                .stored_run(id)
                .and_then(|stored| stored.task)
                .ok_or_else(|| Error::TaskNotKept {
                    run: id,
                    reason: if store.is_enabled() {
                        "the store holds no task for it (it was accepted without one)".into()
                    } else {
                        "it was accepted without its task (a task graph's run), \
                         and no store keeps one"
                            .into()
                    },
                })?,
        };
        let mut job = task.job().clone();
        job.key = None;
        job.start = None;
        Ok(task.with_job(job))
    }
}
