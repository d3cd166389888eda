//! The pool keeper: serves the Pooled pattern (many small requests to warm
//! worker processes).
//!
//! # Messages
//! - `PoolKeeperMessage::Open`: check the spec, resolve the program
//!   (`NotFound` before anything starts), start the workers, answer with
//!   the pool.
//! - `PoolKeeperMessage::Resize`: start workers, or retire some (idle
//!   ones first; each finishes its request in hand).
//! - `PoolKeeperMessage::Close`: refuse new requests; workers drain the
//!   queue, then leave; the pool is removed once the last one is gone.
//! - `PoolKeeperMessage::Respawn`: a delayed replacement coming due.
//! - `PoolKeeperMessage::Status`: pools, workers, busy, queued.
//!
//! Requests do not pass through the keeper: idle workers pull them from
//! the pool's queue (see `pool/serve.rs`).
//!
//! # Supervision
//! A permanent child of the root supervisor, and itself the supervisor of
//! one worker actor per warm process (the second level of the tree).
//! ractor restarts nothing by itself, so the keeper overrides
//! `handle_supervisor_evt`: when a worker ends, the ending it recorded says
//! what to do. Recycled: replace at once. Failed (died, timed out, broke the
//! protocol): replace after the pool's restart backoff — unless
//! `max_start_failures` workers in a row failed at start, in which case the
//! pool is marked failed and its requests answer `PoolUnavailable` with the
//! last worker's stderr lines, instead of restarting forever. Retired or
//! drained: no replacement.
//!
//! # State outside the actor
//! Every pool (spec, queue, counters, log ring) lives in the `PoolTable`
//! the keeper is started with; the keeper keeps only its worker table.
//!
//! # Restart and stop
//! If the keeper dies, ractor kills its workers: the request each had in
//! hand answers `ActorFailed` and its process group is terminated. Queued
//! requests stay queued: the next incarnation restores every open pool
//! from the table (new workers) and serves them. On a graceful stop at
//! shutdown, queued and in-flight requests get `shutdown_grace` to finish;
//! what is left answers `ShuttingDown`, and every worker process is
//! terminated before the keeper is gone.

mod handle;
mod job;
mod line;
mod log;
mod messages;
mod serve;
mod shared;
mod spec;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::runner::Owner;
use crate::slot::ActorSlot;
use crate::supervisor::ChildReport;
pub use handle::{Pool, Pools};
pub use log::{WorkerLog, WorkerLogLine};
pub(crate) use messages::PoolKeeperMessage;
use serve::WorkerEnd;
use shared::WorkerInfo;
pub(crate) use shared::{PoolShared, PoolTable};
pub use shared::{PoolState, PoolStats};
pub use spec::{
    DEFAULT_LOG_LINES, DEFAULT_MAX_START_FAILURES, DEFAULT_REQUEST_TIMEOUT, MAX_WORKERS, PoolSpec,
};
pub(crate) use worker::POOL_WORKER;
pub(crate) use worker::PoolWorkerMessage;
pub use worker::{POOL_ENV, WORKER_ENV};
use worker::{PoolWorker, PoolWorkerArguments};

/// The child name of the pool keeper.
pub(crate) const POOL_KEEPER: &str = "pool_keeper";

/// A worker that fails within this long of its start, without having
/// answered a request, failed *at start*.
const START_WINDOW: Duration = Duration::from_secs(10);

/// Stderr lines quoted when a pool gives up on its program.
const STDERR_TAIL: usize = 5;

/// How often the shutdown drain checks whether the pools are idle.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// The pool keeper actor (stateless; see [`PoolKeeperState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolKeeper;

/// What each keeper incarnation starts with.
#[derive(Debug, Clone)]
pub(crate) struct PoolKeeperArguments {
    /// The shared runtime context.
    pub(crate) ctx: Arc<Context>,
    /// The pools, kept across keeper restarts.
    pub(crate) pools: Arc<PoolTable>,
    /// The slot callers find the keeper in: each pool watches it, so its
    /// queued requests are answered if the keeper is given up on.
    pub(crate) slot: ActorSlot<PoolKeeperMessage>,
}

/// One keeper incarnation's state: its workers.
#[derive(Debug)]
pub(crate) struct PoolKeeperState {
    ctx: Arc<Context>,
    pools: Arc<PoolTable>,
    slot: ActorSlot<PoolKeeperMessage>,
    workers: HashMap<ActorId, WorkerEntry>,
    /// Replacements scheduled after a backoff, by pool id.
    pending: HashMap<u64, usize>,
    stopping: bool,
}

#[derive(Debug)]
struct WorkerEntry {
    pool: Arc<PoolShared>,
    info: Arc<WorkerInfo>,
    owner: Owner,
    retiring: bool,
    actor: ActorRef<PoolWorkerMessage>,
}

impl Drop for PoolKeeperState {
    fn drop(&mut self) {
        // A keeper that dies takes its workers along (ractor kills linked
        // children); this gives their in-flight requests the right reason.
        // After a graceful stop every worker is already stopped, and the
        // first reason given wins.
        for entry in self.workers.values() {
            entry.owner.stop(Error::actor_failed(
                POOL_KEEPER,
                "the pool keeper stopped while the request was in flight",
            ));
        }
    }
}

impl Actor for PoolKeeper {
    type Msg = PoolKeeperMessage;
    type State = PoolKeeperState;
    type Arguments = PoolKeeperArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PoolKeeperArguments,
    ) -> Result<PoolKeeperState, ActorProcessingErr> {
        Ok(PoolKeeperState {
            ctx: args.ctx,
            pools: args.pools,
            slot: args.slot,
            workers: HashMap::new(),
            pending: HashMap::new(),
            stopping: false,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut PoolKeeperState,
    ) -> Result<(), ActorProcessingErr> {
        state.restore(&myself).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: PoolKeeperMessage,
        state: &mut PoolKeeperState,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&state.ctx);
        ctx.handle_message(POOL_KEEPER, message, |message| async move {
            match message {
                PoolKeeperMessage::Open { spec, reply } => {
                    reply.send(state.open(&myself, spec).await);
                }
                PoolKeeperMessage::Resize {
                    pool,
                    workers,
                    reply,
                } => reply.send(state.resize(&myself, &pool, workers).await),
                PoolKeeperMessage::Close { pool, reply } => {
                    state.close(&myself, &pool).await;
                    reply.send(Ok(()));
                }
                PoolKeeperMessage::Respawn { pool } => {
                    if let Some(count) = state.pending.get_mut(&pool) {
                        *count = count.saturating_sub(1);
                    }
                    if let Some(pool) = state.pools.by_id(pool) {
                        state.top_up(&myself, &pool).await;
                        state.maybe_finish(&pool);
                    }
                }
                PoolKeeperMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: state.report(),
                    });
                }
            }
        })
        .await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut PoolKeeperState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            _ => return Ok(()),
        };
        let Some(entry) = state.workers.remove(&cell.get_id()) else {
            return Ok(());
        };
        let ctx = Arc::clone(&state.ctx);
        ctx.handle(POOL_KEEPER, "WorkerEnded", async {
            state.worker_ended(&myself, entry, failure).await;
        })
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut PoolKeeperState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_workers().await;
        Ok(())
    }
}

impl PoolKeeperState {
    /// Bring every pool in the table back up (a new incarnation after a
    /// crash; nothing to do on the first start).
    async fn restore(&mut self, myself: &ActorRef<PoolKeeperMessage>) {
        for pool in self.pools.all() {
            // The previous incarnation's workers died with it.
            pool.workers.store(0, Ordering::Relaxed);
            self.top_up(myself, &pool).await;
            self.maybe_finish(&pool);
        }
    }

    async fn open(
        &mut self,
        myself: &ActorRef<PoolKeeperMessage>,
        spec: Arc<PoolSpec>,
    ) -> Result<Arc<PoolShared>> {
        self.ctx.shutdown().check()?;
        spec.validate()?;
        if let Some(dir) = spec.command.dir()
            && !dir.is_dir()
        {
            return Err(Error::InvalidConfig(format!(
                "pool {}: working directory {} does not exist or is not a directory",
                spec.name,
                dir.display()
            )));
        }
        // The pool's own PATH if it sets one; removed or not set, ours.
        let path = crate::env::lookup(&spec.command.env, "PATH").flatten();
        let program =
            self.ctx
                .programs()
                .resolve(&spec.command.program, path, spec.command.dir())?;
        if let Some(existing) = self.pools.get(&spec.name)
            && matches!(existing.state(), PoolState::Open | PoolState::Closing)
        {
            return Err(Error::PoolExists(spec.name.clone()));
        }
        let pool = Arc::new(PoolShared::new(
            self.pools.next_id(),
            (*spec).clone(),
            program,
        ));
        self.pools.insert(Arc::clone(&pool));
        self.watch(&pool);
        for _ in 0..spec.workers {
            if let Err(e) = self.spawn_worker(myself, &pool).await {
                // Nothing was accepted yet: undo the pool and say why.
                if matches!(e, Error::NotFound { .. } | Error::PermissionDenied { .. }) {
                    self.ctx.programs().forget(&spec.command.program);
                }
                pool.set_state(PoolState::Closed);
                pool.fail_queued(&e);
                self.pools.remove(&pool);
                self.stop_pool_workers(&pool, &e);
                self.maybe_finish(&pool);
                return Err(e);
            }
        }
        tracing::debug!(pool = %spec.name, workers = spec.workers, "pool opened");
        Ok(pool)
    }

    /// Requests wait in the pool's queue for a keeper incarnation to serve
    /// them. If there will be none — the supervisor gave up on the keeper,
    /// or the runtime was stopped without a graceful shutdown — this
    /// answers them, so no caller waits forever. One watcher per pool, for
    /// the pool's whole life (not per incarnation).
    fn watch(&self, pool: &Arc<PoolShared>) {
        let pool = Arc::clone(pool);
        let slot = self.slot.clone();
        let ctx = Arc::clone(&self.ctx);
        self.ctx.tasks().spawn(async move {
            let error = tokio::select! {
                _ = pool.done.cancelled() => return,
                _ = ctx.shutdown().root().cancelled() => Error::ShuttingDown,
                error = slot.gone() => error,
            };
            pool.abandon(&error);
        });
    }

    async fn resize(
        &mut self,
        myself: &ActorRef<PoolKeeperMessage>,
        pool: &Arc<PoolShared>,
        workers: usize,
    ) -> Result<()> {
        if workers == 0 {
            return Err(Error::InvalidConfig(format!(
                "pool {}: Pool::resize needs at least 1 worker (use close to stop them all)",
                pool.name()
            )));
        }
        if workers > MAX_WORKERS {
            return Err(Error::InvalidConfig(format!(
                "pool {}: Pool::resize allows at most {MAX_WORKERS} workers",
                pool.name()
            )));
        }
        if pool.state() != PoolState::Open {
            return Err(pool.refusal());
        }
        pool.set_target(workers);
        let mut active: Vec<&mut WorkerEntry> = self
            .workers
            .values_mut()
            .filter(|w| w.pool.id == pool.id && !w.retiring)
            .collect();
        if active.len() > workers {
            // Idle workers first: they leave at once.
            active.sort_by_key(|w| w.info.busy.load(Ordering::Relaxed));
            for entry in active.into_iter().skip(workers) {
                entry.retiring = true;
                let _ = entry.actor.cast(PoolWorkerMessage::Retire);
            }
        }
        self.top_up(myself, pool).await;
        Ok(())
    }

    async fn close(&mut self, myself: &ActorRef<PoolKeeperMessage>, pool: &Arc<PoolShared>) {
        match pool.state() {
            PoolState::Open => {
                pool.set_state(PoolState::Closing);
                // Refuses new requests; idle workers wake up, drain what is
                // queued, then find the queue closed and leave.
                pool.jobs.close();
            }
            PoolState::Failed(_) => {
                pool.set_state(PoolState::Closed);
                self.pools.remove(pool);
            }
            PoolState::Closing | PoolState::Closed => {}
        }
        self.top_up(myself, pool).await;
        self.maybe_finish(pool);
    }

    /// Start one worker for `pool`.
    async fn spawn_worker(
        &mut self,
        myself: &ActorRef<PoolKeeperMessage>,
        pool: &Arc<PoolShared>,
    ) -> Result<()> {
        let info = Arc::new(WorkerInfo::new(pool.next_worker()));
        let owner = Owner::new(POOL_KEEPER, self.ctx.shutdown().root());
        let retire = owner.token().child_token();
        let args = PoolWorkerArguments {
            ctx: Arc::clone(&self.ctx),
            pool: Arc::clone(pool),
            info: Arc::clone(&info),
            owner: owner.clone(),
            retire,
        };
        match PoolWorker::spawn_linked(None, PoolWorker, args, myself.get_cell()).await {
            Ok((actor, _join)) => {
                pool.workers.fetch_add(1, Ordering::Relaxed);
                self.workers.insert(
                    actor.get_id(),
                    WorkerEntry {
                        pool: Arc::clone(pool),
                        info,
                        owner,
                        retiring: false,
                        actor,
                    },
                );
                Ok(())
            }
            Err(SpawnErr::StartupFailed(err)) => Err(err
                .downcast_ref::<Error>()
                .cloned()
                .unwrap_or_else(|| Error::actor_failed(worker::POOL_WORKER, err.to_string()))),
            Err(other) => Err(Error::actor_failed(worker::POOL_WORKER, other.to_string())),
        }
    }

    /// Workers of `pool` not on their way out.
    fn active(&self, pool: &PoolShared) -> usize {
        self.workers
            .values()
            .filter(|w| w.pool.id == pool.id && !w.retiring)
            .count()
    }

    fn live(&self, pool: &PoolShared) -> usize {
        self.workers
            .values()
            .filter(|w| w.pool.id == pool.id)
            .count()
    }

    fn pending(&self, pool: &PoolShared) -> usize {
        self.pending.get(&pool.id).copied().unwrap_or(0)
    }

    /// Start workers until the pool has as many as it wants.
    async fn top_up(&mut self, myself: &ActorRef<PoolKeeperMessage>, pool: &Arc<PoolShared>) {
        if self.stopping {
            return;
        }
        let want = match pool.state() {
            PoolState::Open => pool.target(),
            // A closing pool with requests left and no one to serve them
            // (its workers failed) gets one worker to drain the queue.
            PoolState::Closing => usize::from(pool.queued() > 0),
            PoolState::Closed | PoolState::Failed(_) => 0,
        };
        while self.active(pool) + self.pending(pool) < want {
            if let Err(e) = self.spawn_worker(myself, pool).await {
                tracing::warn!(pool = pool.name(), error = %e, "could not start a pool worker");
                // Counts like a worker failing at start, and is never
                // retried without a pause.
                if let Some(delay) =
                    self.note_failure(pool, format!("could not be started: {e}"), true, None)
                {
                    let delay = delay.max(pool.spec.restart_backoff.delay(1));
                    self.respawn_after(myself, pool, delay.max(Duration::from_millis(1)));
                }
                return;
            }
        }
    }

    fn respawn_after(
        &mut self,
        myself: &ActorRef<PoolKeeperMessage>,
        pool: &PoolShared,
        delay: Duration,
    ) {
        *self.pending.entry(pool.id).or_default() += 1;
        let id = pool.id;
        myself.send_after(delay, move || PoolKeeperMessage::Respawn { pool: id });
    }

    /// Count a worker failure. `None` if the pool gave up; otherwise the
    /// delay before its replacement.
    fn note_failure(
        &mut self,
        pool: &Arc<PoolShared>,
        reason: String,
        at_start: bool,
        worker: Option<u64>,
    ) -> Option<Duration> {
        let name = pool.name();
        let detail = match worker {
            Some(id) => format!("worker {id} {reason}"),
            None => format!("a worker {reason}"),
        };
        pool.set_last_failure(detail.clone());
        let in_a_row = pool.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if at_start {
            let starts = pool.start_failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
            if starts >= pool.spec.max_start_failures {
                let tail = worker
                    .map(|id| pool.log.lock().tail(id, STDERR_TAIL))
                    .unwrap_or_default();
                let stderr = if tail.is_empty() {
                    "no stderr output".to_string()
                } else {
                    format!("last stderr lines: {}", tail.join(" | "))
                };
                let reason = format!(
                    "pool {name}: {starts} workers in a row failed at start, so the pool \
                     stopped replacing them; last: {detail}; {stderr}"
                );
                tracing::error!(pool = name, %reason, "pool failed");
                self.fail_pool(pool, reason);
                return None;
            }
        }
        tracing::warn!(pool = name, reason = %detail, "pool worker failed; replacing it");
        pool.restarts.fetch_add(1, Ordering::Relaxed);
        Some(if in_a_row <= 1 {
            Duration::ZERO
        } else {
            pool.spec.restart_backoff.delay(in_a_row - 1)
        })
    }

    /// Give up on `pool`: answer its queue, stop its workers.
    fn fail_pool(&mut self, pool: &Arc<PoolShared>, reason: String) {
        pool.set_state(PoolState::Failed(reason.clone()));
        let error = Error::PoolUnavailable(reason);
        pool.fail_queued(&error);
        self.stop_pool_workers(pool, &error);
    }

    fn stop_pool_workers(&mut self, pool: &PoolShared, reason: &Error) {
        for entry in self.workers.values_mut().filter(|w| w.pool.id == pool.id) {
            entry.retiring = true;
            entry.owner.stop(reason.clone());
        }
    }

    async fn worker_ended(
        &mut self,
        myself: &ActorRef<PoolKeeperMessage>,
        entry: WorkerEntry,
        actor_failure: Option<String>,
    ) {
        let pool = entry.pool;
        pool.workers.fetch_sub(1, Ordering::Relaxed);
        let end = match (actor_failure, entry.info.end.get()) {
            // The actor itself panicked: whatever its loop recorded, the
            // process is being stopped and must be replaced.
            (Some(panic), _) => WorkerEnd::Failed {
                reason: format!("actor failed: {panic}"),
                during_request: false,
            },
            (None, Some(end)) => end.clone(),
            (None, None) => WorkerEnd::Stopped,
        };
        match end {
            WorkerEnd::Recycled => {
                pool.recycled.fetch_add(1, Ordering::Relaxed);
            }
            WorkerEnd::Failed {
                reason,
                during_request,
            } if !self.stopping && matches!(pool.state(), PoolState::Open | PoolState::Closing) => {
                let info = &entry.info;
                let at_start = info.served.load(Ordering::Relaxed) == 0
                    && (during_request || info.started.elapsed() < START_WINDOW);
                match self.note_failure(&pool, reason, at_start, Some(info.id)) {
                    None => {}
                    Some(delay) if delay.is_zero() => {}
                    Some(delay) => self.respawn_after(myself, &pool, delay),
                }
            }
            WorkerEnd::Failed { .. }
            | WorkerEnd::Retired
            | WorkerEnd::Drained
            | WorkerEnd::Stopped => {}
        }
        self.top_up(myself, &pool).await;
        self.maybe_finish(&pool);
    }

    /// Finish a closing or failed pool whose last worker is gone.
    fn maybe_finish(&mut self, pool: &Arc<PoolShared>) {
        if self.live(pool) > 0 || self.pending(pool) > 0 {
            return;
        }
        match pool.state() {
            PoolState::Closing if pool.queued() == 0 => {
                pool.set_state(PoolState::Closed);
                pool.fail_queued(&pool.refusal());
                self.pools.remove(pool);
                self.pending.remove(&pool.id);
                pool.done.cancel();
                tracing::debug!(pool = pool.name(), "pool closed");
            }
            PoolState::Closed | PoolState::Failed(_) => {
                self.pending.remove(&pool.id);
                pool.done.cancel();
            }
            PoolState::Open | PoolState::Closing => {}
        }
    }

    /// Stop every worker: at shutdown after letting queued and in-flight
    /// requests finish within `shutdown_grace`; on any other stop (a
    /// strategy restart) at once, leaving the queue to the next
    /// incarnation.
    async fn stop_workers(&mut self) {
        self.stopping = true;
        let shutting_down = self.ctx.shutdown().is_closing();
        let reason = if shutting_down {
            let grace = self.ctx.limits().shutdown_grace;
            let pools = self.pools.all();
            let idle = || {
                pools
                    .iter()
                    .all(|p| p.queued() == 0 && p.busy.load(Ordering::Relaxed) == 0)
            };
            let _ = tokio::time::timeout(grace, async {
                while !idle() {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
            })
            .await;
            Error::ShuttingDown
        } else {
            Error::actor_failed(POOL_KEEPER, "stopped by the supervisor")
        };
        for entry in self.workers.values() {
            entry.owner.stop(reason.clone());
        }
        if shutting_down {
            for pool in self.pools.all() {
                pool.fail_queued(&Error::ShuttingDown);
            }
        }
        // Each worker stops itself once its process is gone (bounded by
        // `kill_grace`); wait for that, so no process outlives the keeper.
        let bound = (self.ctx.limits().process.kill_grace)
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1));
        let cells: Vec<_> = self.workers.values().map(|w| w.actor.get_cell()).collect();
        let _ = tokio::time::timeout(
            bound,
            futures::future::join_all(cells.iter().map(|c| c.wait(None))),
        )
        .await;
    }

    fn report(&self) -> String {
        let pools = self.pools.all();
        let stats: Vec<PoolStats> = pools.iter().map(|p| p.stats()).collect();
        format!(
            "{} pools, {} workers, {} busy, {} queued",
            pools.len(),
            stats.iter().map(|s| s.workers).sum::<usize>(),
            stats.iter().map(|s| s.busy).sum::<usize>(),
            stats.iter().map(|s| s.queued).sum::<usize>(),
        )
    }
}
