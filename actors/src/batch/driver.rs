//! The driver of one batch: one tokio task, owned by the coordinator
//! incarnation that accepted the batch, that starts the batch's runs as
//! slots free up and collects their results in input order.
//!
//! # Memory
//! A batch of N never holds more than `limit` runs: the tasks wait in the
//! caller's own `Vec`, consumed in order, and each becomes a run (checked,
//! registered, given a tokio task) only when it starts. Per queued task the
//! driver keeps just its result slot.
//!
//! # Stopping
//! Each run has its own [`Owner`], so a stop can tell each run why it
//! stopped, with its run id: `Cancelled` (fail-fast or [`Batch::cancel`]),
//! `TimedOut` (the batch's time limit), `ActorFailed` (the coordinator
//! incarnation died) or `ShuttingDown`. The reason is set before the run's
//! token fires, so the runner, the registry and the caller all see the same
//! one; tasks not started yet report it too, without a run id. The run
//! owners hang off the runtime's root token, so an emergency stop reaches
//! them even without the driver.
//!
//! [`Batch::cancel`]: super::Batch::cancel

use std::collections::HashMap;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::BATCH;
use super::handle::BatchProgress;
use super::spec::BatchJob;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::registry::RunRecord;
use crate::runner::{self, Owner};
use crate::task::Task;

/// One batch being run.
pub(super) struct Driver {
    ctx: Arc<Context>,
    /// The coordinator incarnation that accepted the batch.
    incarnation: Owner,
    /// That incarnation's tasks, so its stop waits for our runs.
    runs: TaskTracker,
    job: Arc<BatchJob>,
    /// Parent of every run owner of this batch (see the module docs).
    parent: CancellationToken,
    /// One per task, filled as results come in.
    slots: Vec<Option<Result<Output>>>,
    /// Runs started and not finished, by task index (at most `limit`).
    in_flight: HashMap<usize, InFlight>,
    progress: BatchProgress,
    /// Why the batch stopped early, once it has.
    stopped: Option<Error>,
}

struct InFlight {
    owner: Owner,
    record: Arc<RunRecord>,
}

impl Driver {
    pub(super) fn new(
        ctx: Arc<Context>,
        incarnation: Owner,
        runs: TaskTracker,
        job: Arc<BatchJob>,
    ) -> Self {
        let total = job.total();
        let parent = ctx.shutdown().root().child_token();
        Driver {
            slots: std::iter::repeat_with(|| None).take(total).collect(),
            // Never sized by `limit` alone: a caller may pass usize::MAX.
            in_flight: HashMap::with_capacity(job.limit().min(total)),
            progress: BatchProgress::queued(total),
            stopped: None,
            ctx,
            incarnation,
            runs,
            job,
            parent,
        }
    }

    /// Run the batch to its end and return one result per task, in input
    /// order. Every task gets a result; every run started ends in a
    /// terminal status before this returns.
    pub(super) async fn run(mut self, tasks: Vec<Task>) -> Vec<Result<Output>> {
        let limit = self.job.limit();
        let after = self.job.time_limit();
        let deadline = after.map(|limit| Instant::now() + limit);
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
            // Checked before starting anything, so a stop is seen even when
            // a completion is ready on every round.
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
                match self.start(index, task) {
                    Ok(handle) => {
                        self.progress.running += 1;
                        running.push(joined(index, handle));
                    }
                    // Bad input fails its own slot only: it never became a run.
                    Err(e) => self.finish(index, Err(e)),
                }
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

    /// Stop conditions that may have come true while completions kept the
    /// driver busy.
    fn check_stops(&mut self, deadline: Option<Instant>, after: Option<Duration>) {
        if self.incarnation.token().is_cancelled() {
            let reason = self.incarnation.reason();
            self.stop(reason);
        } else if self.job.cancel_token().is_cancelled() {
            self.stop(Error::Cancelled { run: None });
        } else if deadline.is_some_and(|at| at <= Instant::now()) {
            self.stop(timed_out(after));
        }
    }

    /// Check, register and spawn the run of task `index`.
    fn start(&mut self, index: usize, task: Task) -> Result<JoinHandle<Result<Output>>> {
        let prepared = runner::prepare(&self.ctx, Arc::new(task))?;
        let owner = Owner::new(BATCH, &self.parent);
        let record = self.ctx.registry().register(
            prepared.task.display_name(),
            Pattern::Concurrent,
            Some(owner.token()),
        );
        self.in_flight.insert(
            index,
            InFlight {
                owner: owner.clone(),
                record: Arc::clone(&record),
            },
        );
        let ctx = Arc::clone(&self.ctx);
        // As in the executor: the runtime-wide tracker lets shutdown wait
        // for this run even if the incarnation's own tracker is gone.
        let alive = ctx.tasks().token();
        Ok(self.runs.spawn(async move {
            let _alive = alive;
            runner::execute(&ctx, &record, &prepared, &owner).await
        }))
    }

    /// A run's task ended.
    fn ended(&mut self, index: usize, result: std::result::Result<Result<Output>, JoinError>) {
        self.progress.running -= 1;
        let flight = self.in_flight.remove(&index);
        let result = result.unwrap_or_else(|join| {
            // The runner catches action panics; this is a bug elsewhere.
            // Still, the run must not stay `Running` in the registry.
            let e = Error::actor_failed(BATCH, format!("the run's task failed: {join}"));
            if let Some(flight) = &flight {
                let _ = self.ctx.registry().finish(&flight.record, Err(e.clone()));
            }
            Err(e)
        });
        self.finish(index, result);
    }

    /// Fill slot `index`.
    fn finish(&mut self, index: usize, result: Result<Output>) {
        let failed = !matches!(&result, Ok(out) if out.success());
        self.slots[index] = Some(result);
        self.progress.done += 1;
        if failed {
            self.progress.failed += 1;
            if self.job.fail_fast() && self.stopped.is_none() {
                self.stop(Error::Cancelled { run: None });
            }
        }
    }

    /// Stop the batch: no new starts, and every run in flight is stopped
    /// with `reason` (carrying its own run id).
    fn stop(&mut self, reason: Error) {
        if self.stopped.is_some() {
            return;
        }
        tracing::debug!(reason = %reason, in_flight = self.in_flight.len(), "batch stopping");
        for flight in self.in_flight.values() {
            flight.owner.stop(for_run(&reason, &flight.record));
        }
        self.stopped = Some(reason);
    }
}

/// `reason` as the run `record` reports it: with its id where the error
/// has room for one.
fn for_run(reason: &Error, record: &RunRecord) -> Error {
    match reason {
        Error::Cancelled { run: None } => Error::Cancelled {
            run: Some(record.id()),
        },
        Error::TimedOut { run: None, after } => Error::TimedOut {
            run: Some(record.id()),
            after: *after,
        },
        other => other.clone(),
    }
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
