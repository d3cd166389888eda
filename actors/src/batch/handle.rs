//! The caller's side of a running batch: the [`Batch`] handle (progress,
//! cancel, results) and the [`BatchProgress`] counts it reports.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::BATCH;
use super::spec::BatchJob;
use crate::error::{Error, Result};
use crate::output::Output;

/// How far a batch has got. Every task is in exactly one of `queued`,
/// `running` or `done`, so `queued + running + done == total` at all times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchProgress {
    /// Tasks in the batch.
    pub total: usize,
    /// Not started yet (waiting for one of the batch's `limit` slots).
    pub queued: usize,
    /// Started and not finished: each holds one of the batch's `limit`
    /// slots. A run may still wait, `Queued` in the registry, for the
    /// runtime-wide `max_concurrency` cap.
    pub running: usize,
    /// Finished, whatever the result.
    pub done: usize,
    /// Of `done`, how many did not succeed: a non-zero exit, an action
    /// error, or an `Err` (not found, timed out, cancelled, ...).
    pub failed: usize,
}

impl BatchProgress {
    pub(crate) fn queued(total: usize) -> Self {
        BatchProgress {
            total,
            queued: total,
            ..BatchProgress::default()
        }
    }

    /// Of `done`, how many succeeded.
    pub fn succeeded(&self) -> usize {
        self.done - self.failed
    }

    /// Whether every task has its result.
    pub fn is_finished(&self) -> bool {
        self.done == self.total
    }
}

/// A handle to a batch started with `Orchestrator::start_batch`: watch its
/// progress, cancel it, and collect its results.
///
/// Dropping the handle does not stop the batch: it runs to its end, and
/// its runs stay readable in the registry.
#[derive(Debug)]
pub struct Batch {
    job: Arc<BatchJob>,
    /// The progress version last returned by `changed`.
    seen: u64,
    results: oneshot::Receiver<Vec<Result<Output>>>,
}

impl Batch {
    pub(crate) fn new(job: Arc<BatchJob>, results: oneshot::Receiver<Vec<Result<Output>>>) -> Self {
        Batch {
            job,
            seen: 0,
            results,
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.job.total()
    }

    /// Whether the batch has no tasks.
    pub fn is_empty(&self) -> bool {
        self.job.total() == 0
    }

    /// The counts right now.
    pub fn progress(&self) -> BatchProgress {
        self.job.progress().1
    }

    /// Wait until the counts change, and return them. Returns at once once
    /// the batch is finished, so `while !p.is_finished()` loops end.
    ///
    /// # Cancel safety
    /// Cancel safe: a change that arrives while nobody waits is reported by
    /// the next call.
    pub async fn changed(&mut self) -> BatchProgress {
        loop {
            let notified = self.job.changed().notified();
            tokio::pin!(notified);
            // Register before reading, so a publish in between still wakes us.
            notified.as_mut().enable();
            let (version, progress) = self.job.progress();
            if version != self.seen || progress.is_finished() {
                self.seen = version;
                return progress;
            }
            notified.await;
        }
    }

    /// The next task to end, as `(index in the input, result)`, in the
    /// order they end; `None` once every result was taken. Needs
    /// [`BatchSpec::report_each`](super::BatchSpec::report_each): without
    /// it, `None` at once. [`wait`](Self::wait) still returns every result,
    /// without the output bytes handed out here.
    ///
    /// # Cancel safety
    /// Cancel safe: a result is taken only when this returns it.
    pub async fn next_finished(&mut self) -> Option<(usize, Result<Output>)> {
        if !self.job.reports_each() {
            return None;
        }
        loop {
            let notified = self.job.changed().notified();
            tokio::pin!(notified);
            // Register before looking, so a publish in between still wakes us.
            notified.as_mut().enable();
            if let Some(done) = self.job.take_finished() {
                return Some(done);
            }
            // Every result is queued before the final publish.
            if self.job.progress().1.is_finished() {
                return None;
            }
            notified.await;
        }
    }

    /// Cancel the whole batch: runs in flight are terminated (SIGTERM to
    /// their process groups, `kill_grace`, SIGKILL) and end `Cancelled`;
    /// tasks not started report `Err(Cancelled)` without running. Results
    /// already in stay. Cancelling a finished batch does nothing.
    pub fn cancel(&self) {
        self.job.cancel_token().cancel();
    }

    /// Wait for the batch to end and return one result per task, in input
    /// order (see `Orchestrator::run_batch` for what each slot holds).
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the batch (use
    /// [`cancel`](Self::cancel) for that).
    pub async fn wait(self) -> Vec<Result<Output>> {
        let total = self.job.total();
        // The driver always sends; the port closes unanswered only if the
        // tokio runtime itself is going away.
        self.results.await.unwrap_or_else(|_| {
            let lost = Error::actor_failed(BATCH, "the batch ended without reporting its results");
            vec![Err(lost); total]
        })
    }
}
