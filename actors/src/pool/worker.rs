//! The pool worker actor: one per warm worker process.
//!
//! # Messages
//! - [`PoolWorkerMessage::Retire`]: finish the request in hand, take no
//!   more, end the process gracefully (resize down).
//!
//! Requests never pass through this actor: its serve loop pulls them from
//! the pool's shared queue (see `serve`), which keeps the hot path free of
//! actor hops.
//!
//! # Supervision
//! Spawned by the pool keeper, linked to it (the second level of the
//! tree). It stops itself when its serve loop ends; the keeper reads how it
//! ended from the worker's [`WorkerInfo`] and decides on a replacement.
//!
//! # State outside the actor
//! The queue, counters and log ring are the pool's ([`PoolShared`]).
//!
//! # Restart and stop
//! Workers are never restarted as such: the keeper starts a *new* worker
//! (new process, new number). If this actor dies (a panic, or the keeper
//! dying and ractor killing its children), dropping its state stops the
//! serve loop: the request in hand answers `ActorFailed`, and the process
//! group is terminated (SIGTERM, `kill_grace`, SIGKILL).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio_util::sync::CancellationToken;

use super::serve::{self, Serve};
use super::shared::{PoolShared, WorkerInfo};
use crate::context::Context;
use crate::error::Error;
use crate::process::child::ChildProcess;
use crate::process::piped::{self, PipedSpec};
use crate::runner::Owner;

/// The name worker actors use for message handling (and fault injection).
pub(crate) const POOL_WORKER: &str = "pool_worker";

/// Environment variable every worker gets: its pool's name.
pub const POOL_ENV: &str = "TASKORCH_POOL";

/// Environment variable every worker gets: its number within the pool.
pub const WORKER_ENV: &str = "TASKORCH_WORKER_ID";

/// The worker actor (stateless; see [`PoolWorkerState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolWorker;

/// What a worker starts with.
#[derive(Debug)]
pub(crate) struct PoolWorkerArguments {
    pub(crate) ctx: Arc<Context>,
    pub(crate) pool: Arc<PoolShared>,
    pub(crate) info: Arc<WorkerInfo>,
    pub(crate) owner: Owner,
    pub(crate) retire: CancellationToken,
}

/// Messages a worker accepts.
#[derive(Debug)]
pub(crate) enum PoolWorkerMessage {
    /// Finish the request in hand, then leave.
    Retire,
}

impl PoolWorkerMessage {
    /// Every variant's name, as fault targets name them (`fault/kinds.rs`
    /// writes them out; its unit test checks them against this).
    #[cfg_attr(not(all(test, feature = "fault-injection")), allow(dead_code))]
    pub(crate) const KINDS: &'static [&'static str] = &["Retire"];
}

/// One worker's state.
#[derive(Debug)]
pub(crate) struct PoolWorkerState {
    ctx: Arc<Context>,
    retire: CancellationToken,
    // Dropped with the state: stops the serve loop (see the module docs).
    _stop_on_drop: StopOnDrop,
}

#[derive(Debug)]
struct StopOnDrop(Owner);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // First reason wins: a loop that already ended keeps its own.
        self.0.stop(Error::actor_failed(
            POOL_WORKER,
            "the pool worker stopped while the request was in flight",
        ));
    }
}

impl Actor for PoolWorker {
    type Msg = PoolWorkerMessage;
    type State = PoolWorkerState;
    type Arguments = PoolWorkerArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PoolWorkerArguments,
    ) -> Result<PoolWorkerState, ActorProcessingErr> {
        let pool = &args.pool;
        let spec = &pool.spec;
        let worker = args.info.id.to_string();
        let extra_env = [
            (POOL_ENV, spec.name.as_str()),
            (WORKER_ENV, worker.as_str()),
        ];
        // A failed spawn is returned as our own error type, so the keeper
        // can tell `NotFound` from the rest.
        let mut process = piped::spawn(&PipedSpec {
            launch: spec.command.launch(&pool.program),
            extra_env: &extra_env,
        })?;
        let pid = process.child.pid();
        // The injected fault `KillChildProcess`, aimed at the pool's
        // worker processes: the serve loop sees the worker die.
        if args.ctx.kill_at_spawn(POOL_WORKER) || args.ctx.kill_at_spawn(super::POOL_KEEPER) {
            let _ = process.child.kill();
            args.ctx.trace().note(
                POOL_WORKER,
                "KillChildProcess",
                crate::trace::EventKind::Fault,
                crate::trace::Outcome::Ok,
                None,
                None,
            );
        }
        args.info.pid.store(pid.unwrap_or(0), Ordering::Relaxed);
        pool.set_pid(args.info.id, pid);
        let serve = Serve {
            pool: Arc::clone(pool),
            info: Arc::clone(&args.info),
            owner: args.owner.clone(),
            retire: args.retire.clone(),
            limits: args.ctx.limits().process,
            actor: myself.get_cell(),
            trace: Arc::clone(args.ctx.trace()),
        };
        // On the runtime-wide tracker, so shutdown waits for the process
        // to be gone even if this actor died first.
        args.ctx.tasks().spawn(serve::run(serve, process));
        Ok(PoolWorkerState {
            ctx: args.ctx,
            retire: args.retire,
            _stop_on_drop: StopOnDrop(args.owner),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: PoolWorkerMessage,
        state: &mut PoolWorkerState,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&state.ctx);
        ctx.handle(POOL_WORKER, "Retire", async {
            match message {
                PoolWorkerMessage::Retire => state.retire.cancel(),
            }
        })
        .await
    }
}
