//! A delayed start (`Task::start_at`, `Task::start_after`) for the patterns
//! whose caller waits for the run: [`run`](Orchestrator::run) and
//! [`stream`](Orchestrator::stream) wait, in the caller, until the task is
//! due, then submit it. ([`launch`](Orchestrator::launch) answers at once
//! and the launcher holds the run, `Queued`, until it is due.)

use std::time::Duration;

use taskorch_actors::{Error, JobOptions, Result, Task};

use super::Orchestrator;

/// The longest one wait lasts before the clock is read again (the system
/// clock may jump) and shutdown is looked at.
const RESYNC: Duration = Duration::from_secs(1);

impl Orchestrator {
    /// `task` once it is due (at once if it has no start, or one in the
    /// past), without its start: the run it becomes starts now.
    ///
    /// # Errors
    /// The task's own input errors (`InvalidDuration` for a start too far
    /// ahead, ...) before any wait; `ShuttingDown` if shutdown begins
    /// while it waits.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing was submitted yet, so dropping the future
    /// leaves no run behind.
    pub(super) async fn until_start(&self, task: Task) -> Result<Task> {
        let Some(start) = task.job().start else {
            return Ok(task);
        };
        task.validate()?;
        let clock = self.inner.config.clock;
        let due = start.due(clock.now());
        let shutdown = self.inner.ctx.shutdown();
        loop {
            shutdown.check()?;
            let Ok(left) = due.duration_since(clock.now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(left.min(RESYNC)) => {}
                () = shutdown.root().cancelled() => return Err(Error::ShuttingDown),
            }
        }
        let job = JobOptions {
            start: None,
            ..task.job().clone()
        };
        Ok(task.with_job(job))
    }
}
