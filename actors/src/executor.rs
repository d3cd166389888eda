//! The executor: serves the Simple pattern (run one task, answer with its
//! `Output`) and the LongRunning pattern (start one task, answer at once
//! with a [`RunStream`] of its live output).
//!
//! # Messages
//! - [`ExecutorMessage::Run`]: check the task, register the run, start it
//!   in a task this incarnation owns, and answer the reply port when it
//!   ends. The handler itself only dispatches, so one slow run never delays
//!   the next request.
//! - [`ExecutorMessage::Stream`]: the same, but answer as soon as the run
//!   is registered, with a [`RunStream`] reading the run's line ring from
//!   its first line. The run is owned by this incarnation exactly like a
//!   `Run`; the stream only reads the registry. A task whose key names a
//!   live or recent run starts nothing: the answer follows that run.
//! - [`ExecutorMessage::Status`]: how many runs are in flight.
//!
//! # Supervision
//! A permanent child of the root supervisor.
//!
//! # State outside the actor
//! Runs and their outcomes live in the registry of the runtime
//! [`Context`]; actions in its action table. The actor
//! keeps only its run tasks and the token that owns them.
//!
//! # Restart and stop
//! If the executor dies (a panic while handling a message), its state is
//! dropped, which stops the token owning its runs: each in-flight run
//! terminates its process group (SIGTERM, `kill_grace`, SIGKILL), is marked
//! `Interrupted`, and its caller gets `Error::ActorFailed`. Nothing is
//! orphaned, and the next incarnation starts clean. On a graceful stop
//! (shutdown) runs get `shutdown_grace` to finish first; the rest end the
//! same way with `Error::ShuttingDown`.
//!
//! A panic inside one run's own task (an action's closure, the runtime's
//! code around the work) is not the executor dying: the runner ends that
//! run `Failed` with `Error::RunPanicked`, which its caller (and stream,
//! and waiters) get; the executor and its other runs go on.
//!
//! Streamed runs follow the same rule, on purpose: a run that kept going
//! under a task outliving the actor would be a run nobody supervises, and
//! an executor that dies mid-stream is exactly the failure the caller must
//! hear about. The stream returns the lines captured up to the kill, then
//! ends; `wait` answers `ActorFailed`, and the lines stay readable by run id.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::error::Result;
use crate::message::pattern_message;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::runner::{self, Owner, OwnerGuard, drain_runs};
use crate::slot::Reply;
use crate::stream::RunStream;
use crate::supervisor::ChildReport;
use crate::task::Task;
use crate::trace::Correlation;

/// The child name of the executor.
pub(crate) const EXECUTOR: &str = "executor";

/// The executor actor (stateless; see [`ExecutorState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Executor;

/// What each executor incarnation starts with.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorArguments {
    /// The shared runtime context.
    pub(crate) ctx: Arc<Context>,
}

/// Messages the executor accepts.
#[derive(Debug)]
pub enum ExecutorMessage {
    /// Run `task` (Simple pattern) and answer with its outcome.
    Run {
        /// What to run (shared, so a request lost in a crash can be
        /// re-sent without copying the task).
        task: Arc<Task>,
        /// Where the outcome goes.
        reply: Reply<Output>,
    },
    /// Start `task` (LongRunning pattern) and answer as soon as it is
    /// registered, with a stream of its output.
    Stream {
        /// What to run.
        task: Arc<Task>,
        /// Where the stream goes.
        reply: Reply<RunStream>,
    },
    /// Report on this incarnation.
    Status(RpcReplyPort<ChildReport>),
}

pattern_message!(pub ExecutorMessage {
    requests: [Run, Stream],
    plain: [],
    status: Status,
});

/// One incarnation's state.
#[derive(Debug)]
pub(crate) struct ExecutorState {
    ctx: Arc<Context>,
    owner: Owner,
    // Dropped with the state: stops this incarnation's runs (see the module
    // docs). Never read.
    _stop_runs_on_drop: OwnerGuard,
    runs: TaskTracker,
}

impl Actor for Executor {
    type Msg = ExecutorMessage;
    type State = ExecutorState;
    type Arguments = ExecutorArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ExecutorArguments,
    ) -> Result<ExecutorState, ActorProcessingErr> {
        let owner = Owner::new(EXECUTOR, args.ctx.shutdown().root());
        Ok(ExecutorState {
            _stop_runs_on_drop: owner.guard(),
            owner,
            ctx: args.ctx,
            runs: TaskTracker::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ExecutorMessage,
        state: &mut ExecutorState,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&state.ctx);
        ctx.handle_message(EXECUTOR, message, |message| async move {
            match message {
                ExecutorMessage::Run { task, reply } => state.run(task, reply),
                ExecutorMessage::Stream { task, reply } => state.stream(task, reply),
                ExecutorMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: format!("{} runs in flight", state.runs.len()),
                    });
                }
            }
        })
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ExecutorState,
    ) -> Result<(), ActorProcessingErr> {
        drain_runs(&state.ctx, &state.owner, &state.runs, EXECUTOR).await;
        Ok(())
    }
}

impl ExecutorState {
    fn run(&self, task: Arc<Task>, reply: Reply<Output>) {
        let ctx = Arc::clone(&self.ctx);
        let owner = self.owner.clone();
        // Holding a token of the runtime-wide tracker lets shutdown wait for
        // this run's clean-up even if this incarnation dies first.
        let alive = ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            let result = run_simple(&ctx, &owner, task, reply.correlation()).await;
            reply.send(result);
        });
    }
}

impl ExecutorState {
    fn stream(&self, task: Arc<Task>, reply: Reply<RunStream>) {
        let ctx = Arc::clone(&self.ctx);
        let owner = self.owner.clone();
        let alive = ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            run_streamed(&ctx, &owner, task, reply).await;
        });
    }
}

async fn run_streamed(ctx: &Context, owner: &Owner, task: Arc<Task>, reply: Reply<RunStream>) {
    let prepared = match ctx
        .shutdown()
        .check()
        .and_then(|()| runner::prepare(ctx, task))
    {
        Ok(prepared) => prepared,
        Err(e) => return reply.send(Err(e)),
    };
    let record = match ctx.registry().admit_keyed(
        crate::registry::Admission::new(prepared.task.display_name(), Pattern::LongRunning)
            .journal(crate::registry::Journal::WithTask(&prepared.task))
            .job(prepared.task.job())
            .parent(Some(owner.token())),
    ) {
        crate::registry::Keyed::New(record) => record,
        // Its key names a live or recent run: follow that run through its
        // ring. Taking over the lossless queue would rob the stream that
        // started it, and a second queue would make the run wait for two
        // readers (see `stream` module docs, "Keys").
        crate::registry::Keyed::Existing(record) => {
            let lines = record.subscribe_output(ctx.limits().lines);
            return reply.send(Ok(RunStream::follow(record, lines)));
        }
    };
    record.correlate(reply.correlation());
    // Owned before the run starts, so the stream sees every byte.
    let lines = record.own_output(ctx.limits().lines);
    // The caller may be gone already; the run goes on regardless, readable
    // by its id, as a dropped `RunStream` would leave it.
    reply.send(Ok(RunStream::new(Arc::clone(&record), lines)));
    let _ = runner::execute(ctx, &record, &prepared, owner).await;
}

async fn run_simple(
    ctx: &Context,
    owner: &Owner,
    task: Arc<Task>,
    correlation: Correlation,
) -> Result<Output> {
    ctx.shutdown().check()?;
    let prepared = runner::prepare(ctx, task)?;
    let record = match ctx.registry().admit_keyed(
        crate::registry::Admission::new(prepared.task.display_name(), Pattern::Simple)
            .journal(crate::registry::Journal::WithTask(&prepared.task))
            .job(prepared.task.job())
            .parent(Some(owner.token())),
    ) {
        crate::registry::Keyed::New(record) => record,
        // Its key names a live or recent run: that run's outcome is the answer.
        crate::registry::Keyed::Existing(record) => return record.wait().await,
    };
    record.correlate(correlation);
    runner::execute(ctx, &record, &prepared, owner).await
}
