//! The driver of one batch: one tokio task, owned by the coordinator
//! incarnation that accepted the batch, that starts the batch's runs as
//! slots free up and collects their results in input order.
//!
//! # Memory
//! A batch of N never holds more than `limit` runs: the tasks wait in the
//! caller's own `Vec`, consumed in order, and each becomes a run only when
//! it starts. Per queued task the driver keeps just its result slot.
//!
//! # Work split
//! The driver only hands each task to a tokio task of its own; that task
//! checks it, registers the run and runs it. So the per-run work spreads
//! over every worker thread, and the driver, which every run of the batch
//! passes through, stays small.
//!
//! # Stopping
//! All runs of the batch share one [`Owner`]: stopping it with a reason —
//! `Cancelled` (fail-fast or [`Batch::cancel`]), `TimedOut` (the batch's
//! time limit), `ActorFailed` (the coordinator incarnation died) or
//! `ShuttingDown` — sets the reason before any run's token fires, so the
//! runner, the registry and the caller all see the same one, each run with
//! its own id. Tasks not started report it too, without a run id. The
//! owner hangs off the runtime's root token, so an emergency stop reaches
//! the runs even without the driver.
//!
//! [`Batch::cancel`]: super::Batch::cancel

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::BATCH;
use super::handle::BatchProgress;
use super::spec::BatchJob;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::runner::{self, Owner};
use crate::task::Task;
use crate::trace::Correlation;

/// One batch being run.
pub(super) struct Driver {
    ctx: Arc<Context>,
    /// The coordinator incarnation that accepted the batch.
    incarnation: Owner,
    job: Arc<BatchJob>,
    /// Owns every run of this batch (see the module docs).
    owner: Owner,
    /// One per task, filled as results come in.
    slots: Vec<Option<Result<Output>>>,
    progress: BatchProgress,
    /// Why the batch stopped early, once it has.
    stopped: Option<Error>,
    /// The request that started the batch: every run of it carries it.
    correlation: Correlation,
}

impl Driver {
    pub(super) fn new(
        ctx: Arc<Context>,
        incarnation: Owner,
        job: Arc<BatchJob>,
        correlation: Correlation,
    ) -> Self {
        let total = job.total();
        Driver {
            owner: Owner::new(BATCH, ctx.shutdown().root()),
            slots: std::iter::repeat_with(|| None).take(total).collect(),
            progress: BatchProgress::queued(total),
            stopped: None,
            ctx,
            incarnation,
            job,
            correlation,
        }
    }

    /// Run the batch to its end and return one result per task, in input
    /// order. Every task gets a result; every run started ends in a
    /// terminal status before this returns.
    pub(super) async fn run(mut self, tasks: Vec<Task>) -> Vec<Result<Output>> {
        let limit = self.job.limit();
        let after = self.job.time_limit();
        let deadline = after.map(|limit| crate::duration::after(Instant::now(), limit));
        let mut queue = tasks.into_iter().enumerate();
        let mut running = FuturesUnordered::new();

        // Pinned once: re-polling a registered waiter costs nothing, while
        // building new ones every round would lock each token again.
        let incarnation = self.incarnation.token().clone();
        let cancel = self.job.cancel_token().clone();
        let mut dead = pin!(incarnation.cancelled());
        let mut cancelled = pin!(cancel.cancelled());
        let mut expiry = pin!(sleep_until(deadline));

        loop {
            // Checked before each round of starts, so nothing new starts
            // after a stop that arrived with a completion (the `select!`
            // below sees it only after this round).
            if self.stopped.is_none() {
                self.check_stops(deadline, after);
            }
            while self.stopped.is_none() && running.len() < limit {
                // At shutdown nothing new starts, but runs in flight keep
                // their grace: this is not a stop.
                if self.ctx.shutdown().is_closing() {
                    break;
                }
                let Some((index, task)) = queue.next() else {
                    break;
                };
                self.progress.queued -= 1;
                self.progress.running += 1;
                running.push(joined(index, self.start(task)));
            }
            self.job.publish(self.progress);
            if running.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = &mut dead, if self.stopped.is_none() => {
                    let reason = self.incarnation.reason();
                    self.stop(reason);
                }
                _ = &mut cancelled, if self.stopped.is_none() => {
                    self.stop(Error::Cancelled { run: None });
                }
                _ = &mut expiry, if self.stopped.is_none() => {
                    self.stop(timed_out(after));
                }
                Some((index, result)) = running.next() => self.ended(index, result),
            }
        }

        // The loop leaves tasks unstarted only once the batch has stopped
        // or the runtime is shutting down.
        let reason = self.stopped.clone().unwrap_or(Error::ShuttingDown);
        for (index, _task) in queue {
            self.progress.queued -= 1;
            self.finish(index, Err(reason.clone()));
        }
        self.job.publish(self.progress);
        self.slots
            .into_iter()
            .map(|slot| slot.expect("every slot is filled before the loop ends"))
            .collect()
    }

    /// Stops that may have come while the driver was busy. (Both tokens
    /// are touched by nobody else per run, so their locks are uncontended.)
    fn check_stops(&mut self, deadline: Option<Instant>, after: Option<Duration>) {
        if self.incarnation.token().is_cancelled() {
            let reason = self.incarnation.reason();
            self.stop(reason);
        } else if self.job.cancel_token().is_cancelled() {
            self.stop(Error::Cancelled { run: None });
        } else if deadline.is_some_and(|at| at <= Instant::now()) {
            // The timer may lag behind a driver kept busy by completions.
            self.stop(timed_out(after));
        }
    }

    /// Hand `task` to a tokio task of its own (see the module docs).
    ///
    /// Not put in the incarnation's or the runtime's task tracker: the
    /// driver, which is in both, holds the run's handle and never ends
    /// before its runs do, so waiting for the driver waits for them — and
    /// two shared counters fewer per run matter at 100,000 runs a second.
    fn start(&self, task: Task) -> JoinHandle<Result<Output>> {
        let ctx = Arc::clone(&self.ctx);
        let owner = self.owner.clone();
        let correlation = self.correlation;
        // Shared from here: a `Task` is ~500 bytes, and by value it would
        // be copied into the spawned future, into tokio's task cell and into
        // the run's future before the run puts it behind an `Arc` anyway.
        let task = Arc::new(task);
        // Boxed inside the task: the run's future is ~1 KiB, and tokio
        // copies what it spawns; the box is made on the run's own thread.
        tokio::spawn(async move { Box::pin(run_one(&ctx, &owner, task, correlation)).await })
    }

    /// A run's task ended.
    fn ended(&mut self, index: usize, result: std::result::Result<Result<Output>, JoinError>) {
        self.progress.running -= 1;
        let result = result.unwrap_or_else(|join| {
            Err(Error::actor_failed(
                BATCH,
                format!("the run's task failed: {join}"),
            ))
        });
        self.finish(index, result);
    }

    /// Fill slot `index`.
    fn finish(&mut self, index: usize, result: Result<Output>) {
        let failed = !matches!(&result, Ok(out) if out.success());
        self.slots[index] = Some(self.job.report(index, result));
        self.progress.done += 1;
        if failed {
            self.progress.failed += 1;
            if self.job.fail_fast() && self.stopped.is_none() {
                self.stop(Error::Cancelled { run: None });
            }
        }
    }

    /// Stop the batch: no new starts, and every run in flight is stopped
    /// with `reason` (each reports it with its own run id).
    fn stop(&mut self, reason: Error) {
        if self.stopped.is_some() {
            return;
        }
        tracing::debug!(%reason, running = self.progress.running, "batch stopping");
        self.owner.stop(reason.clone());
        self.stopped = Some(reason);
    }
}

/// One task of the batch, from check to terminal status.
async fn run_one(
    ctx: &Context,
    owner: &Owner,
    task: Arc<Task>,
    correlation: Correlation,
) -> Result<Output> {
    // Stopped between the hand-over and now: it never started.
    if owner.token().is_cancelled() {
        return Err(owner.reason());
    }
    // Bad input fails its own slot only: it never becomes a run.
    let prepared = runner::prepare(ctx, task)?;
    let record = match ctx.registry().admit_keyed(
        crate::registry::Admission::new(prepared.task.display_name(), Pattern::Concurrent)
            .journal(crate::registry::Journal::WithTask(&prepared.task))
            .job(prepared.task.job())
            .parent(Some(owner.token())),
    ) {
        crate::registry::Keyed::New(record) => record,
        // Its key names a live or recent run: that run's outcome is the answer.
        crate::registry::Keyed::Existing(record) => return record.wait().await,
    };
    record.correlate(correlation);
    // A panic inside is the runner's to catch: it ends the run
    // `RunPanicked` and returns that.
    runner::execute(ctx, &record, &prepared, owner).await
}

fn timed_out(after: Option<Duration>) -> Error {
    Error::TimedOut {
        run: None,
        after: after.unwrap_or_default(),
    }
}

/// A run's join handle, tagged with its task index (also when it fails).
async fn joined(
    index: usize,
    handle: JoinHandle<Result<Output>>,
) -> (usize, std::result::Result<Result<Output>, JoinError>) {
    (index, handle.await)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
