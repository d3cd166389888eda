//! The executor: serves the Simple pattern (run one task, answer with its
//! `Output`).
//!
//! # Messages
//! - [`ExecutorMessage::Run`]: check the task, register the run, start it
//!   in a task this incarnation owns, and answer the reply port when it
//!   ends. The handler itself only dispatches, so one slow run never delays
//!   the next request.
//! - [`ExecutorMessage::Status`]: how many runs are in flight.
//!
//! # Supervision
//! A permanent child of the root supervisor.
//!
//! # State outside the actor
//! Runs and their outcomes live in the registry of the runtime
//! [`Context`](crate::Context); actions in its action table. The actor
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

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::error::Result;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::runner::{self, Owner, OwnerGuard, drain_runs};
use crate::slot::Reply;
use crate::supervisor::{ChildMessage, ChildReport};
use crate::task::Task;

/// The child name of the executor.
pub const EXECUTOR: &str = "executor";

/// The executor actor (stateless; see [`ExecutorState`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Executor;

/// What each executor incarnation starts with.
#[derive(Debug, Clone)]
pub struct ExecutorArguments {
    /// The shared runtime context.
    pub ctx: Arc<Context>,
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
    /// Report on this incarnation.
    Status(RpcReplyPort<ChildReport>),
}

impl ExecutorMessage {
    /// The variant's name, for traces.
    fn kind(&self) -> &'static str {
        match self {
            ExecutorMessage::Run { .. } => "Run",
            ExecutorMessage::Status(_) => "Status",
        }
    }

    /// Arm the request's reply (see [`Reply::accept`]).
    fn accept(&mut self) {
        if let ExecutorMessage::Run { reply, .. } = self {
            reply.accept();
        }
    }
}

impl ChildMessage for ExecutorMessage {
    fn status_request(reply: RpcReplyPort<ChildReport>) -> Self {
        ExecutorMessage::Status(reply)
    }
}

/// One incarnation's state.
#[derive(Debug)]
pub struct ExecutorState {
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
        mut message: ExecutorMessage,
        state: &mut ExecutorState,
    ) -> Result<(), ActorProcessingErr> {
        message.accept();
        let ctx = Arc::clone(&state.ctx);
        ctx.handle(EXECUTOR, message.kind(), async {
            match message {
                ExecutorMessage::Run { task, reply } => state.run(task, reply),
                ExecutorMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: format!("{} runs in flight", state.runs.len()),
                    });
                }
            }
        })
        .await;
        Ok(())
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
            let result = run_simple(&ctx, &owner, task).await;
            reply.send(result);
        });
    }
}

async fn run_simple(ctx: &Context, owner: &Owner, task: Arc<Task>) -> Result<Output> {
    ctx.shutdown().check()?;
    let prepared = runner::prepare(ctx, task)?;
    let record = ctx.registry().register(
        prepared.task.display_name(),
        Pattern::Simple,
        Some(owner.token()),
    );
    runner::execute(ctx, &record, &prepared, owner).await
}
