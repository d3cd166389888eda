//! The Concurrent pattern: run many tasks, at most `limit` at once, and get
//! one result per task in input order.

use std::sync::Arc;

use taskorch_actors::batch::BatchMessage;
use taskorch_actors::{Batch, BatchSpec, Output, Result, Task};

use super::Orchestrator;

impl Orchestrator {
    /// Run `tasks`, at most `limit` at once, and return one result per
    /// task, **in input order** whatever order they finish in. Commands,
    /// shell scripts and in-process actions may be mixed.
    ///
    /// Each slot holds what [`run`](Self::run) would have returned for that
    /// task: a non-zero exit is `Ok` with [`Output::success`] `false`; a task
    /// that cannot run (`NotFound`, `InvalidTask`, `UnknownAction`, ...)
    /// fails its own slot and the others still run. Every run is in the
    /// registry with [`Pattern::Concurrent`](crate::Pattern). Besides the
    /// batch's own `limit`, every run waits for the runtime-wide
    /// [`Config::max_concurrency`](crate::Config) cap.
    ///
    /// Tasks are started lazily, as slots free up: a batch of 100,000 holds
    /// at most `limit` runs (processes, futures) at a time.
    ///
    /// An empty list returns an empty `Vec`. When the batch cannot start at
    /// all, every slot holds the same error: `InvalidTask` for a `limit` of
    /// 0, `ShuttingDown`, or `ActorFailed`. For fail-fast, a batch time-out,
    /// live progress or cancelling, use [`start_batch`](Self::start_batch).
    ///
    /// # Crashes and shutdown
    /// If the batch coordinator dies mid-batch, finished tasks keep their
    /// results; runs in flight are terminated (whole process groups) and end
    /// `Interrupted`, and they and the tasks not started report
    /// `ActorFailed`. At shutdown, runs in flight get `shutdown_grace` to
    /// finish; the rest report `ShuttingDown`.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the batch: it runs to its end and
    /// its runs stay readable in the registry.
    pub async fn run_batch(&self, tasks: Vec<Task>, limit: usize) -> Vec<Result<Output>> {
        if tasks.is_empty() {
            return Vec::new();
        }
        let total = tasks.len();
        match self.start_batch(BatchSpec::new(tasks, limit)).await {
            Ok(batch) => batch.wait().await,
            Err(e) => vec![Err(e); total],
        }
    }

    /// Start a batch described by `spec` and return a [`Batch`] handle once
    /// the batch coordinator has it under way: the handle reports progress
    /// ([`Batch::progress`], [`Batch::changed`]), cancels the whole batch
    /// ([`Batch::cancel`]) and collects the results ([`Batch::wait`], one
    /// per task in input order, as [`run_batch`](Self::run_batch)).
    ///
    /// ```no_run
    /// # async fn f(orch: taskorch::Orchestrator, tasks: Vec<taskorch::Task>) -> taskorch::Result<()> {
    /// use std::time::Duration;
    /// use taskorch::batch::BatchSpec;
    ///
    /// let spec = BatchSpec::new(tasks, 8).fail_fast(true).timeout(Duration::from_secs(600));
    /// let mut batch = orch.start_batch(spec).await?;
    /// loop {
    ///     let p = batch.changed().await;
    ///     eprintln!("{}/{} done, {} failed, {} running", p.done, p.total, p.failed, p.running);
    ///     if p.is_finished() {
    ///         break;
    ///     }
    /// }
    /// let results = batch.wait().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidTask` for a limit of 0 or a zero batch timeout;
    /// `ShuttingDown`; `ActorFailed` if the coordinator failed and did not
    /// come back. Problems with single tasks are reported in their slots.
    ///
    /// # Cancel safety
    /// If the future is dropped after the coordinator took the batch, the
    /// batch runs to its end without a handle.
    pub async fn start_batch(&self, spec: BatchSpec) -> Result<Batch> {
        self.inner.ctx.shutdown().check()?;
        let (job, batch) = taskorch_actors::batch::BatchJob::new(spec)?;
        self.inner
            .batch
            .request(|reply| BatchMessage::Start {
                job: Arc::clone(&job),
                reply,
            })
            .await?;
        Ok(batch)
    }
}
