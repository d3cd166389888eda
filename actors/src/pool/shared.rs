//! A pool's state that lives outside the actors: spec, request queue,
//! counters, log ring. The pool keeper and its workers come and go; this
//! stays, so a restarted keeper restores every pool from it and requests
//! queued meanwhile are still served.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use async_channel::{Receiver, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::Job;
use super::log::{LogRing, WorkerLog};
use super::spec::PoolSpec;
use crate::error::Error;

/// Where a pool is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolState {
    /// Taking requests.
    Open,
    /// `close` was called: new requests are refused, queued ones are still
    /// served, then the workers are terminated.
    Closing,
    /// Closed: no workers, no requests.
    Closed,
    /// Gave up (workers kept failing at start, or the pool keeper failed
    /// for good): requests answer `PoolUnavailable` with this reason.
    Failed(String),
}

/// A pool's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Worker processes up.
    pub workers: usize,
    /// Workers handling a request right now.
    pub busy: usize,
    /// Requests waiting for a worker.
    pub queued: usize,
    /// Requests answered by a worker (successful replies).
    pub served: u64,
    /// Workers replaced after a failure (died, timed out, broke the
    /// protocol, could not be started).
    pub restarts: u64,
    /// Workers replaced gracefully (`recycle_after`, `max_age`).
    pub recycled: u64,
}

/// Every pool of one runtime, by name (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct PoolTable {
    pools: Mutex<HashMap<String, Arc<PoolShared>>>,
    next_id: AtomicU64,
}

impl PoolTable {
    pub(crate) fn get(&self, name: &str) -> Option<Arc<PoolShared>> {
        self.pools.lock().get(name).cloned()
    }

    /// `f` on the pool called `name`, under the table's lock and without
    /// cloning its `Arc`: a request by name only queues its job (which
    /// never blocks), and a clone per request would bounce the pool's
    /// reference count between the caller's and the workers' cores.
    pub(crate) fn with<R>(&self, name: &str, f: impl FnOnce(&PoolShared) -> R) -> Option<R> {
        self.pools.lock().get(name).map(|shared| f(shared))
    }

    pub(crate) fn by_id(&self, id: u64) -> Option<Arc<PoolShared>> {
        self.pools.lock().values().find(|p| p.id == id).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<PoolShared>> {
        self.pools.lock().values().cloned().collect()
    }

    /// Names of the pools in the table.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pools.lock().keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn insert(&self, pool: Arc<PoolShared>) {
        self.pools.lock().insert(pool.spec.name.clone(), pool);
    }

    /// Remove `pool`, unless its name now belongs to a newer pool.
    pub(crate) fn remove(&self, pool: &PoolShared) {
        let mut pools = self.pools.lock();
        if pools.get(&pool.spec.name).is_some_and(|p| p.id == pool.id) {
            pools.remove(&pool.spec.name);
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// One pool's shared state (see the module docs). Opaque: reach it through
/// a `Pool` handle.
#[derive(Debug)]
pub(crate) struct PoolShared {
    /// Tells apart pools that reuse a name after a close.
    pub(crate) id: u64,
    pub(crate) spec: PoolSpec,
    /// The resolved program.
    pub(crate) program: PathBuf,
    /// Workers wanted (the spec's count until `resize`).
    target: AtomicUsize,
    // The FIFO queue idle workers pull from. Closing the sender side
    // refuses new requests while queued ones still drain.
    pub(crate) jobs: Sender<Job>,
    pub(crate) jobs_rx: Receiver<Job>,
    // Requests to retry after their worker died: served before the queue.
    pub(crate) retries: Sender<Job>,
    pub(crate) retries_rx: Receiver<Job>,
    state: Mutex<PoolState>,
    last_failure: Mutex<Option<String>>,
    pub(crate) workers: AtomicUsize,
    pub(crate) busy: AtomicUsize,
    pub(crate) served: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) recycled: AtomicU64,
    /// Worker failures since the last answered request (restart backoff).
    pub(crate) failures_in_a_row: AtomicU32,
    /// Workers that failed at start since the last answered request.
    pub(crate) start_failures_in_a_row: AtomicU32,
    next_worker: AtomicU64,
    pids: Mutex<HashMap<u64, u32>>,
    pub(crate) log: Mutex<LogRing>,
    /// Cancelled once the pool is closed or has failed and its last worker
    /// is gone.
    pub(crate) done: CancellationToken,
}

impl PoolShared {
    pub(crate) fn new(id: u64, spec: PoolSpec, program: PathBuf) -> Self {
        let (jobs, jobs_rx) = async_channel::unbounded();
        let (retries, retries_rx) = async_channel::unbounded();
        PoolShared {
            id,
            target: AtomicUsize::new(spec.workers),
            log: Mutex::new(LogRing::new(spec.log_lines)),
            spec,
            program,
            jobs,
            jobs_rx,
            retries,
            retries_rx,
            state: Mutex::new(PoolState::Open),
            last_failure: Mutex::new(None),
            workers: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            recycled: AtomicU64::new(0),
            failures_in_a_row: AtomicU32::new(0),
            start_failures_in_a_row: AtomicU32::new(0),
            next_worker: AtomicU64::new(1),
            pids: Mutex::new(HashMap::new()),
            done: CancellationToken::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn state(&self) -> PoolState {
        self.state.lock().clone()
    }

    pub(crate) fn set_state(&self, state: PoolState) {
        *self.state.lock() = state;
    }

    pub(crate) fn target(&self) -> usize {
        self.target.load(Ordering::Relaxed)
    }

    pub(crate) fn set_target(&self, n: usize) {
        self.target.store(n, Ordering::Relaxed);
    }

    pub(crate) fn queued(&self) -> usize {
        self.jobs_rx.len() + self.retries_rx.len()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.workers.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            queued: self.queued(),
            served: self.served.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            recycled: self.recycled.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn next_worker(&self) -> u64 {
        self.next_worker.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn set_pid(&self, worker: u64, pid: Option<u32>) {
        let mut pids = self.pids.lock();
        match pid {
            Some(pid) => pids.insert(worker, pid),
            None => pids.remove(&worker),
        };
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.pids.lock().values().copied().collect();
        pids.sort_unstable();
        pids
    }

    pub(crate) fn logs(&self) -> WorkerLog {
        self.log.lock().snapshot()
    }

    pub(crate) fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().clone()
    }

    pub(crate) fn set_last_failure(&self, reason: String) {
        *self.last_failure.lock() = Some(reason);
    }

    /// A request was answered: the pool is healthy, whatever failed before.
    pub(crate) fn note_success(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        // Read first: the common case (nothing failed) writes nothing.
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
        if self.start_failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.start_failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Why a request was refused: the pool's state says.
    pub(crate) fn refusal(&self) -> Error {
        let name = self.name();
        match self.state() {
            PoolState::Open => {
                Error::PoolUnavailable(format!("pool {name} is not taking requests"))
            }
            PoolState::Closing => Error::PoolUnavailable(format!("pool {name} is closing")),
            PoolState::Closed => Error::PoolUnavailable(format!("pool {name} is closed")),
            PoolState::Failed(reason) => Error::PoolUnavailable(reason),
        }
    }

    /// Refuse new requests and answer every queued one with `error`.
    pub(crate) fn fail_queued(&self, error: &Error) {
        self.jobs.close();
        self.retries.close();
        for rx in [&self.jobs_rx, &self.retries_rx] {
            while let Ok(job) = rx.try_recv() {
                job.answer(Err(error.clone()));
            }
        }
    }

    /// The pool can no longer be served (its keeper was given up on, or
    /// the runtime stopped): fail it with `error` unless it already ended.
    pub(crate) fn abandon(&self, error: &Error) {
        {
            let mut state = self.state.lock();
            if matches!(*state, PoolState::Open | PoolState::Closing) {
                *state = PoolState::Failed(error.to_string());
            }
        }
        self.fail_queued(error);
        self.done.cancel();
    }
}

/// What the keeper and a worker's serve loop share about one worker.
#[derive(Debug)]
pub(crate) struct WorkerInfo {
    /// The worker's number within its pool.
    pub(crate) id: u64,
    pub(crate) pid: AtomicU32,
    pub(crate) started: Instant,
    /// Requests this worker answered.
    pub(crate) served: AtomicU64,
    /// Handling a request right now (resize retires idle workers first).
    pub(crate) busy: AtomicBool,
    /// How the worker ended, set by its serve loop before its actor stops.
    pub(crate) end: std::sync::OnceLock<super::serve::WorkerEnd>,
}

impl WorkerInfo {
    pub(crate) fn new(id: u64) -> Self {
        WorkerInfo {
            id,
            pid: AtomicU32::new(0),
            started: Instant::now(),
            served: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            end: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::Relaxed) {
            0 => None,
            pid => Some(pid),
        }
    }
}
