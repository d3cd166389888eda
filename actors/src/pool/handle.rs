//! The caller's side of the pooled pattern: [`Pools`] opens and finds
//! pools, [`Pool`] sends requests and manages one pool.
//!
//! A request goes straight onto the pool's queue and is answered by the
//! worker that takes it; only opening, resizing and closing go through the
//! pool keeper (through its slot, so a keeper restart never loses them).

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::slot::ActorSlot;

use super::job::Job;
use super::log::WorkerLog;
use super::shared::{PoolShared, PoolState, PoolStats, PoolTable};
use super::spec::PoolSpec;
use super::{POOL_KEEPER, PoolKeeperMessage};

/// Opens and finds the pools of one runtime.
#[derive(Debug, Clone)]
pub struct Pools {
    ctx: Arc<Context>,
    table: Arc<PoolTable>,
    keeper: ActorSlot<PoolKeeperMessage>,
}

impl Pools {
    /// The pools in `table`, managed by the keeper in `keeper`.
    pub(crate) fn new(
        ctx: Arc<Context>,
        table: Arc<PoolTable>,
        keeper: ActorSlot<PoolKeeperMessage>,
    ) -> Self {
        Pools { ctx, table, keeper }
    }

    /// Open a pool and start its workers.
    ///
    /// # Errors
    /// `InvalidConfig` for a spec that cannot work, `NotFound` /
    /// `PermissionDenied` for a program that cannot run, `PoolExists` if a
    /// pool of that name is open, `Spawn` if a worker could not be
    /// started, `ActorFailed` if the keeper failed meanwhile,
    /// `ShuttingDown`.
    pub async fn open(&self, spec: PoolSpec) -> Result<Pool> {
        self.ctx.shutdown().check()?;
        let spec = Arc::new(spec);
        let shared = self
            .keeper
            .request(|reply| PoolKeeperMessage::Open {
                spec: Arc::clone(&spec),
                reply,
            })
            .await?;
        Ok(self.handle(shared))
    }

    /// Send one request line to the pool called `name` and return its
    /// reply: [`Pool::request`] without a handle, for callers that name
    /// the pool per request (`Orchestrator::execute`).
    ///
    /// # Errors
    /// `PoolUnavailable` if no pool of that name is open; otherwise as
    /// [`Pool::request`].
    ///
    /// # Cancel safety
    /// As [`Pool::request`]: cancel safe.
    pub async fn request(&self, name: &str, line: impl Into<String>) -> Result<String> {
        self.ctx.shutdown().check()?;
        let line = line.into();
        let answer = self
            .table
            .with(name, |shared| submit(&self.ctx, shared, line))
            .ok_or_else(|| {
                Error::PoolUnavailable(format!(
                    "no pool named {name:?}: open it with Orchestrator::pool first"
                ))
            })??;
        answered(answer).await
    }

    /// The pool called `name`, if there is one (open, closing, or failed).
    pub fn get(&self, name: &str) -> Option<Pool> {
        self.table.get(name).map(|shared| self.handle(shared))
    }

    /// Names of the pools, sorted.
    pub fn names(&self) -> Vec<String> {
        self.table.names()
    }

    fn handle(&self, shared: Arc<PoolShared>) -> Pool {
        Pool {
            shared,
            keeper: self.keeper.clone(),
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// Queue `line` on `shared`'s pool: the first half of a request, shared by
/// [`Pool::request`] and [`Pools::request`]. Never blocks (the queue is
/// unbounded), so it may run under the pool table's lock.
fn submit(
    ctx: &Context,
    shared: &PoolShared,
    line: String,
) -> Result<oneshot::Receiver<Result<String>>> {
    if let Some(at) = line.find('\n') {
        return Err(Error::InvalidTask(format!(
            "pool {}: request contains a newline at byte {at}; the protocol is one line \
             per request",
            shared.name()
        )));
    }
    ctx.shutdown().check()?;
    // A halt refuses new work of every pattern; requests already queued
    // are answered (a warm worker is no run to cancel).
    ctx.halt().check()?;
    let (job, answer) = Job::new(line);
    if let Err(refused) = shared.jobs.try_send(job) {
        refused.into_inner().discard();
        return Err(match ctx.shutdown().check() {
            Err(e) => e,
            Ok(()) => shared.refusal(),
        });
    }
    Ok(answer)
}

/// The second half of a request: the worker's answer.
async fn answered(answer: oneshot::Receiver<Result<String>>) -> Result<String> {
    match answer.await {
        Ok(answer) => answer,
        // Every job is answered, even when dropped; this is a guard.
        Err(_) => Err(Error::actor_failed(
            POOL_KEEPER,
            "the request was dropped unanswered",
        )),
    }
}

/// A handle to one pool: cheap to clone, usable from any task.
///
/// Dropping handles does not close the pool; [`close`](Pool::close) does.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<PoolShared>,
    keeper: ActorSlot<PoolKeeperMessage>,
    ctx: Arc<Context>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name())
            .field("state", &self.shared.state())
            .field("stats", &self.shared.stats())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// The pool's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// Send one request line to a worker and return its reply line
    /// (without the newline; a trailing `\r` is dropped too).
    ///
    /// The request goes to an idle worker; when all are busy it waits in
    /// the pool's queue, first come first served. A worker has
    /// `request_timeout` to answer once it has taken the request. The queue
    /// is not bounded: if requests can arrive faster than the workers
    /// answer, bound the callers (a semaphore, say).
    ///
    /// # Errors
    /// - `InvalidTask` if `line` contains a newline (the protocol is one
    ///   line per request: escape newlines, e.g. send JSON).
    /// - `TimedOut { run: None, .. }` if the worker did not answer in time
    ///   (it is killed and replaced).
    /// - `WorkerDied` if the worker died before answering (it is replaced;
    ///   with `retry_idempotent` the request is first retried once on
    ///   another worker).
    /// - `WorkerProtocol` if the worker broke the line protocol (not UTF-8,
    ///   longer than `max_reply`, more than one line); it is replaced.
    /// - `PoolUnavailable` if the pool is closing, closed, or gave up on a
    ///   program that keeps failing at start (the message quotes its last
    ///   stderr lines).
    /// - `ActorFailed` if the pool keeper died while the request was being
    ///   handled; `ShuttingDown` once the runtime is shutting down.
    ///
    /// # Cancel safety
    /// Cancel safe: a request dropped while queued is skipped; one dropped
    /// while a worker has it is finished by the worker and its reply
    /// discarded, so the worker stays in step.
    pub async fn request(&self, line: impl Into<String>) -> Result<String> {
        let answer = submit(&self.ctx, &self.shared, line.into())?;
        answered(answer).await
    }

    /// The pool's counters now.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Where the pool is in its life.
    pub fn state(&self) -> PoolState {
        self.shared.state()
    }

    /// The last lines the workers wrote to stderr (see
    /// [`PoolSpec::log_lines`]).
    pub fn logs(&self) -> WorkerLog {
        self.shared.logs()
    }

    /// Why a worker was last replaced after a failure, if one ever was.
    pub fn last_failure(&self) -> Option<String> {
        self.shared.last_failure()
    }

    /// Pids of the worker processes up now, sorted.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.pids()
    }

    /// Change the number of workers. Growing starts the new workers before
    /// returning; shrinking retires workers (idle ones first), each after
    /// the request it has in hand. Queued requests are not affected.
    ///
    /// # Errors
    /// `InvalidConfig` for zero workers; `PoolUnavailable` if the pool is
    /// not open; `ActorFailed` if the keeper failed meanwhile.
    pub async fn resize(&self, workers: usize) -> Result<()> {
        self.ctx.shutdown().check()?;
        self.keeper
            .request(|reply| PoolKeeperMessage::Resize {
                pool: Arc::clone(&self.shared),
                workers,
                reply,
            })
            .await
    }

    /// Close the pool: refuse new requests (`PoolUnavailable`), let the
    /// workers serve what is already queued, then end them (stdin closed,
    /// then SIGTERM and SIGKILL after `kill_grace` if they linger). Returns
    /// when the last worker process is gone. Closing a closed pool does
    /// nothing; the name can be used for a new pool afterwards.
    ///
    /// # Errors
    /// `ActorFailed` if the keeper failed meanwhile; `ShuttingDown` if the
    /// runtime is shutting down (which closes every pool itself).
    ///
    /// # Cancel safety
    /// Cancel safe: the pool keeps closing; only the wait ends.
    pub async fn close(&self) -> Result<()> {
        if self.shared.done.is_cancelled() {
            return Ok(());
        }
        self.ctx.shutdown().check()?;
        self.keeper
            .request(|reply| PoolKeeperMessage::Close {
                pool: Arc::clone(&self.shared),
                reply,
            })
            .await?;
        self.shared.done.cancelled().await;
        Ok(())
    }
}
