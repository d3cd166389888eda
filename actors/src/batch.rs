//! The batch coordinator: serves the Concurrent pattern (run many tasks, at
//! most `limit` at once, results in input order).
//!
//! # Messages
//! - [`BatchMessage::Start`]: take the batch's tasks out of its
//!   [`BatchJob`], start a driver task for it that this incarnation owns,
//!   and answer at once; the results go to the caller's [`Batch`] handle
//!   when the driver is done. The handler only dispatches, so a long batch
//!   never delays the next one.
//! - [`BatchMessage::StartGraph`]: check and accept a task graph (every
//!   task's program or action, every resource claim), start its driver
//!   task, owned by this incarnation, and answer at once. See
//!   [`graph`] for how a graph runs.
//! - [`BatchMessage::Status`]: how many batches and graphs are in flight.
//!
//! # How a batch runs
//! Its driver (see `batch/driver.rs`) starts runs lazily: a task becomes a
//! run — checked, registered with [`Pattern::Concurrent`](crate::Pattern),
//! given its own tokio task — only when one of the batch's `limit` slots is
//! free. Each run then also waits for the runtime-wide cap
//! (`max_concurrency`), so two batches of limit 8 on a cap of 8 never run
//! 16 things at once. A task that cannot run (missing program, invalid
//! input) fails its own slot and the batch goes on, unless it asked to
//! fail fast.
//!
//! # Supervision
//! A permanent child of the root supervisor, started after the executor.
//!
//! # State outside the actor
//! Runs and their outcomes live in the registry of the runtime
//! [`Context`]; a batch's tasks, progress and result port live in its
//! [`BatchJob`], shared with the caller. The actor keeps only its driver
//! and run tasks and the token that owns them.
//!
//! # Restart and stop
//! If the coordinator dies (a panic while handling a message), its state is
//! dropped, which stops the token owning its batches. Each driver then
//! stops its batch: runs in flight terminate their process groups (SIGTERM,
//! `kill_grace`, SIGKILL) and end `Interrupted`, and the caller gets the
//! results of everything that finished and `Error::ActorFailed` for the
//! rest. Nothing is orphaned; the next incarnation starts clean. Graphs
//! are different: their state lives outside the actor, so the next
//! incarnation adopts every unfinished graph in `pre_start` and carries on
//! with the tasks that were waiting (the runs in flight were interrupted
//! and their dependents skipped; see [`graph`]). On a
//! graceful stop (shutdown) no queued task starts, runs in flight get
//! `shutdown_grace` to finish, and the rest report `Error::ShuttingDown`.

mod driver;
mod handle;
mod spec;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::graph::{self, Coordinator, GraphJob, GraphTable};
use crate::message::pattern_message;
use crate::runner::{Owner, OwnerGuard, drain_runs};
use crate::slot::{ActorSlot, Reply};
use crate::supervisor::ChildReport;
use crate::trace::Correlation;
use driver::Driver;
pub use handle::{Batch, BatchProgress};
pub use spec::{BatchJob, BatchSpec};

/// The child name of the batch coordinator.
pub(crate) const BATCH: &str = "batch";

/// The batch coordinator actor (stateless; see [`BatchState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchCoordinator;

/// What each coordinator incarnation starts with.
#[derive(Debug, Clone)]
pub(crate) struct BatchArguments {
    /// The shared runtime context.
    pub(crate) ctx: Arc<Context>,
    /// Task graphs in flight (outlive incarnations: a restarted
    /// coordinator adopts them).
    pub(crate) graphs: Arc<GraphTable>,
}

/// Messages the batch coordinator accepts.
#[derive(Debug)]
pub enum BatchMessage {
    /// Start the batch in `job`; answer once it is under way.
    Start {
        /// The batch (shared, so a request lost in a crash can be re-sent
        /// without copying the tasks).
        job: Arc<BatchJob>,
        /// Answered `Ok` once the batch's driver runs.
        reply: Reply<()>,
    },
    /// Accept the task graph in `job` and start driving it; answer once it
    /// is under way.
    StartGraph {
        /// The graph (shared with the caller's `GraphRun`).
        job: Arc<GraphJob>,
        /// Answered `Ok` once the graph's driver runs, or with why the
        /// graph cannot run (a missing program, an impossible claim).
        reply: Reply<()>,
    },
    /// Report on this incarnation.
    Status(RpcReplyPort<ChildReport>),
}

pattern_message!(pub BatchMessage {
    requests: [Start, StartGraph],
    plain: [],
    status: Status,
});

// The graph engine reaches its coordinator through this, so it does not
// import the batch actor (which sits above it).
impl Coordinator for ActorSlot<BatchMessage> {
    fn name(&self) -> &'static str {
        ActorSlot::name(self)
    }

    fn gone(&self) -> BoxFuture<'_, Error> {
        Box::pin(ActorSlot::gone(self))
    }

    fn start(&self, job: Arc<GraphJob>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.request(move |reply| BatchMessage::StartGraph {
            job: Arc::clone(&job),
            reply,
        }))
    }
}

/// One incarnation's state.
#[derive(Debug)]
pub(crate) struct BatchState {
    ctx: Arc<Context>,
    graphs: Arc<GraphTable>,
    owner: Owner,
    // Dropped with the state: stops this incarnation's batches (see the
    // module docs). Never read.
    _stop_runs_on_drop: OwnerGuard,
    /// This incarnation's drivers (each waits for its own runs).
    runs: TaskTracker,
    /// Drivers still running (for status).
    batches: Arc<AtomicUsize>,
}

impl BatchState {
    /// Drive `job` in a task this incarnation owns.
    fn drive_graph(&self, job: Arc<GraphJob>) {
        let drive = graph::drive(
            Arc::clone(&self.ctx),
            Arc::clone(&self.graphs),
            self.owner.clone(),
            job,
        );
        // As for batch drivers: the runtime-wide tracker lets shutdown wait
        // for this driver even if this incarnation dies first.
        let alive = self.ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            drive.await;
        });
    }

    fn start_graph(&self, job: Arc<GraphJob>) -> Result<()> {
        self.ctx.shutdown().check()?;
        job.accept(&self.ctx, &self.graphs)?;
        self.graphs.insert(Arc::clone(&job));
        self.drive_graph(job);
        Ok(())
    }
}

impl Actor for BatchCoordinator {
    type Msg = BatchMessage;
    type State = BatchState;
    type Arguments = BatchArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: BatchArguments,
    ) -> Result<BatchState, ActorProcessingErr> {
        let owner = Owner::new(BATCH, args.ctx.shutdown().root());
        let state = BatchState {
            _stop_runs_on_drop: owner.guard(),
            owner,
            ctx: args.ctx,
            graphs: args.graphs,
            runs: TaskTracker::new(),
            batches: Arc::default(),
        };
        // Graphs a previous incarnation was driving carry on here (each
        // driver waits until the previous one has let go of its graph).
        for job in state.graphs.active() {
            state.drive_graph(job);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: BatchMessage,
        state: &mut BatchState,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&state.ctx);
        ctx.handle_message(BATCH, message, |message| async move {
            match message {
                BatchMessage::Start { job, reply } => {
                    let correlation = reply.correlation();
                    reply.send(state.start(job, correlation));
                }
                BatchMessage::StartGraph { job, reply } => {
                    job.correlate(reply.correlation());
                    // With a store, answered once the graph is durable.
                    let answer = state.start_graph(job);
                    state.ctx.answer_when_durable(reply, answer);
                }
                BatchMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: format!(
                            "{} batches and {} graphs in flight",
                            state.batches.load(Ordering::Relaxed),
                            state.graphs.len()
                        ),
                    });
                }
            }
        })
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut BatchState,
    ) -> Result<(), ActorProcessingErr> {
        drain_runs(&state.ctx, &state.owner, &state.runs, BATCH).await;
        Ok(())
    }
}

impl BatchState {
    fn start(&self, job: Arc<BatchJob>, correlation: Correlation) -> Result<()> {
        self.ctx.shutdown().check()?;
        let Some(pending) = job.take() else {
            // Only a request delivered twice could get here, and requests
            // are re-sent only when never handled.
            return Err(Error::InvalidTask("this batch was already started".into()));
        };
        let driver = Driver::new(Arc::clone(&self.ctx), self.owner.clone(), job, correlation);
        let gauge = InFlightGauge::new(&self.batches);
        // As for runs: the runtime-wide tracker lets shutdown wait for this
        // driver even if this incarnation dies first.
        let alive = self.ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            let _gauge = gauge;
            let results = driver.run(pending.tasks).await;
            // The caller may have dropped its handle; the runs are in the
            // registry either way.
            let _ = pending.results.send(results);
        });
        Ok(())
    }
}

/// Counts a driver as in flight until dropped.
struct InFlightGauge(Arc<AtomicUsize>);

impl InFlightGauge {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        InFlightGauge(Arc::clone(count))
    }
}

impl Drop for InFlightGauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
