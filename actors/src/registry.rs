//! The run registry: every accepted run of every pattern, from `Queued` to
//! its terminal status.
//!
//! It lives outside the actors (a `DashMap` behind an `Arc` held by the
//! runtime [`Context`](crate::Context)), so it survives any actor restart:
//! `status`, `wait` and `output` read it, never an actor. The run state
//! machine is enforced here and only here (`RunState::advance`).
//!
//! Retention: finished runs are kept up to `history_limit`; their captured
//! output up to `output_budget` bytes in total. The oldest finished runs go
//! first; queued and running runs are never evicted. A run's output, for
//! the budget, is its captured bytes plus the memory of its line ring
//! ([`LineLog`]); stripping a run empties both (the ring's lines count as
//! dropped). An evicted run is unknown from then on (`None` /
//! `UnknownRun`), except to waiters that were already waiting: they hold
//! the record and still get its outcome.
//!
//! Queries (by status, name, pattern, most recent N) are in [`RunQuery`].
//!
//! Reruns: a run admitted with its task ([`Journal::WithTask`]) keeps it
//! in its record ([`RunRecord::task`]), for `Orchestrator::rerun`; the
//! task's memory is its own (program, arguments, environment), not
//! counted by the output budget.
//!
//! Durable state: with a [`Store`], every change of a run is journaled
//! from here (acceptance, start, pid, end; see `durable`), and a run this
//! registry no longer holds in memory (from before a restart, or evicted)
//! is read back from the store by `get`, `status` and `info`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::lines::LineLog;
use crate::metrics::MetricsRecorder;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::run::{RunId, RunInfo, RunStatus};
use crate::store::Store;
use crate::trace::Correlation;

// Durable state: the store hooks (clearly apart from the in-memory logic).
mod durable;
mod index;
mod job;
mod output;
mod query;
#[cfg(test)]
mod tests;

pub use crate::run::RunQuery;
pub use index::Keyed;

/// Retention limits of a [`Registry`].
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Finished runs kept; older ones are forgotten (`UnknownRun`).
    pub history_limit: usize,
    /// Bytes of captured output kept across all finished runs; past it the
    /// oldest finished runs lose their output (the record stays).
    pub output_budget: usize,
    /// How long a finished run keeps its caller's key
    /// ([`Task::key`](crate::Task::key)): a task submitted with the key
    /// within this time after the run finished gets that run back
    /// ([`Registry::admit_keyed`]). Zero: only live runs do.
    pub key_window: std::time::Duration,
}

/// The default [`Retention::key_window`]: one minute, Oban's default
/// uniqueness period. Long enough to absorb a client's retry of a submit
/// whose answer it lost; short enough that a nightly job with a fixed key
/// runs again the next night.
pub const DEFAULT_KEY_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            history_limit: 10_000,
            output_budget: 64 << 20,
            key_window: DEFAULT_KEY_WINDOW,
        }
    }
}

/// An illegal status change, refused by [`RunRecord::start`] and
/// [`Registry::finish`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run {run}: illegal transition {from} -> {to}")]
pub struct IllegalTransition {
    /// The run.
    pub run: RunId,
    /// Its current status.
    pub from: RunStatus,
    /// The refused status.
    pub to: RunStatus,
}

/// A run to accept with [`Registry::admit`].
#[derive(Debug)]
pub struct Admission<'a> {
    /// Its id (new, or its own when it comes back from the store).
    pub id: RunId,
    /// Its name.
    pub name: String,
    /// The pattern that runs it.
    pub pattern: Pattern,
    /// When it was accepted.
    pub queued: SystemTime,
    /// Cancels the run along with it (an actor incarnation, a batch).
    pub parent: Option<&'a CancellationToken>,
    /// What a store keeps of it.
    pub journal: Journal<'a>,
    /// Its task's job options (none by default; see [`Admission::job`]).
    /// Borrowed from the task where it can be: most runs have none, and
    /// the record copies them only if there are some.
    pub job: std::borrow::Cow<'a, crate::task::JobOptions>,
    /// When it is due, if already fixed (a run restored from the store);
    /// otherwise computed from `job.start` and `queued`.
    pub due: Option<SystemTime>,
    /// The run it reruns (see [`Admission::rerun_of`]).
    pub rerun_of: Option<RunId>,
}

impl<'a> Admission<'a> {
    /// A new run called `name`, accepted now under a new id, with no parent
    /// and not journaled.
    pub fn new(name: impl Into<String>, pattern: Pattern) -> Self {
        Admission {
            id: RunId::new(),
            name: name.into(),
            pattern,
            queued: SystemTime::now(),
            parent: None,
            journal: Journal::Skip,
            job: std::borrow::Cow::Owned(crate::task::JobOptions::default()),
            due: None,
            rerun_of: None,
        }
    }

    /// Cancel the run along with `parent`.
    pub fn parent(mut self, parent: Option<&'a CancellationToken>) -> Self {
        self.parent = parent;
        self
    }

    /// Journal it with a store as `journal` says.
    pub fn journal(mut self, journal: Journal<'a>) -> Self {
        self.journal = journal;
        self
    }
}

/// What a store journals of a run when it is admitted (nothing without a
/// store).
#[derive(Debug, Clone, Copy)]
pub enum Journal<'a> {
    /// Nothing: the run is already stored (put back after a restart), or
    /// not worth keeping.
    Skip,
    /// The run without its task: its history and output survive a
    /// restart, and a restart never starts it on its own (a run found
    /// `Queued` without a task ends `Interrupted`). For runs whose owner
    /// decides what runs again: a task graph's.
    Record,
    /// The run with its task, so it can be started again if the
    /// application stops before it starts. Shared, not copied: the
    /// record keeps the same `Arc` for a rerun.
    WithTask(&'a Arc<crate::task::Task>),
}

/// All runs of one orchestrator.
#[derive(Debug)]
pub struct Registry {
    runs: DashMap<RunId, Arc<RunRecord>>,
    retention: Retention,
    finished: Mutex<Finished>,
    // Where changes are journaled (disabled: nowhere).
    store: Store,
    // Where run events go (see `events`).
    events: Events,
    // Where every admission, transition and eviction is counted.
    metrics: Arc<MetricsRecorder>,
    // Caller's keys and labels of the runs (see `index`).
    keys: Mutex<index::KeyIndex>,
    labels: parking_lot::RwLock<index::LabelIndex>,
}

/// Finished runs in finishing order, for eviction.
#[derive(Debug, Default)]
struct Finished {
    order: VecDeque<RunId>,
    /// Finished runs that still hold output, oldest first, with its size.
    with_output: VecDeque<(RunId, usize)>,
    output_bytes: usize,
}

impl Registry {
    /// An empty registry with the given retention.
    pub fn new(retention: Retention) -> Self {
        Registry::with_store(retention, Store::disabled())
    }

    /// An empty registry that journals every run to `store`.
    pub fn with_store(retention: Retention, store: Store) -> Self {
        let keyed = if store.is_enabled() {
            let since = SystemTime::now()
                .checked_sub(retention.key_window)
                .unwrap_or(std::time::UNIX_EPOCH);
            store.keyed_since(since)
        } else {
            Vec::new()
        };
        let registry = Registry {
            runs: DashMap::new(),
            retention,
            finished: Mutex::new(Finished::default()),
            store,
            events: Events::new(1),
            metrics: Arc::new(MetricsRecorder::new()),
            keys: Mutex::default(),
            labels: parking_lot::RwLock::default(),
        };
        registry.restore_keys(keyed);
        registry
    }

    /// Count runs in `metrics` (the runtime's recorder) instead of a
    /// recorder of the registry's own.
    pub fn with_metrics(mut self, metrics: Arc<MetricsRecorder>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The recorder every run of this registry is counted in.
    pub fn metrics(&self) -> &Arc<MetricsRecorder> {
        &self.metrics
    }

    /// Emit run events (queued, started, finished) to `events`.
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = events;
        self
    }

    /// Cancel every run that has not finished (the emergency halt); how
    /// many were asked to stop.
    pub fn cancel_unfinished(&self) -> usize {
        let live: Vec<Arc<RunRecord>> = self
            .runs
            .iter()
            .filter(|r| !r.status().is_terminal())
            .map(|r| Arc::clone(r.value()))
            .collect();
        for record in &live {
            record.request_cancel();
        }
        live.len()
    }

    /// The durable store runs are journaled to (disabled without one).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Accept a run: record it as `Queued` (journaled as `admission`
    /// says) and return its record. The one way a run enters the registry.
    /// Its key, if it has one, is taken whatever run held it: submits that
    /// should find the existing run use [`admit_keyed`](Self::admit_keyed).
    pub fn admit(&self, admission: Admission<'_>) -> Arc<RunRecord> {
        if admission.job.key.is_some() {
            let mut keys = self.keys.lock();
            self.admit_indexed(admission, &mut keys)
        } else {
            self.admit_indexed(admission, &mut index::KeyIndex::default())
        }
    }

    /// [`admit`](Self::admit) with the key lock held (`keys`).
    fn admit_indexed(
        &self,
        admission: Admission<'_>,
        keys: &mut index::KeyIndex,
    ) -> Arc<RunRecord> {
        let Admission {
            id,
            name,
            pattern,
            queued,
            parent,
            journal,
            job,
            due,
            rerun_of,
        } = admission;
        let token = parent.map_or_else(CancellationToken::new, |p| p.child_token());
        let queued_at = self.metrics.admitted(pattern);
        // The task a store journals is the one a rerun starts again; kept in
        // memory too, so a rerun works without a store.
        let task = match journal {
            Journal::WithTask(task) => Some(Arc::clone(task)),
            Journal::Skip | Journal::Record => None,
        };
        let record = Arc::new(RunRecord {
            id,
            name,
            pattern,
            queued,
            queued_at,
            state: Mutex::new(RunState {
                status: RunStatus::Queued,
                started: None,
                finished: None,
                exit_code: None,
                attempts: 0,
                pid: None,
                retry: None,
                outcome: None,
                token: Some(token),
                started_at: NOT_STARTED,
            }),
            cancel_requested: AtomicBool::new(false),
            done: Notify::new(),
            lines: OnceLock::new(),
            correlation: OnceLock::new(),
            store: self.store.clone(),
            events: self.events.clone(),
            job: job::JobFacts::new(job, due, rerun_of, queued),
            metrics: Some(Arc::clone(&self.metrics)),
            task,
        });
        crate::events::run_queued(
            &record.events,
            record.correlation(),
            record.id,
            record.name(),
            record.pattern(),
        );
        match journal {
            Journal::Skip => {}
            Journal::Record => durable::journal_queued(&record, None),
            Journal::WithTask(task) => durable::journal_queued(&record, Some(task)),
        }
        self.index_admitted(&record, keys);
        if let Some(old) = self.runs.insert(record.id, Arc::clone(&record)) {
            self.metrics.removed(old.pattern, old.status());
        }
        record
    }

    /// The record of `id`, if known.
    pub fn get(&self, id: RunId) -> Option<Arc<RunRecord>> {
        self.runs
            .get(&id)
            .map(|r| Arc::clone(r.value()))
            .or_else(|| self.stored(id))
    }

    /// The status of `id`, if known.
    pub fn status(&self, id: RunId) -> Option<RunStatus> {
        match self.runs.get(&id) {
            Some(r) => Some(r.state.lock().status),
            None => self.store.run(id).map(|row| row.status),
        }
    }

    /// A snapshot of `id`, if known.
    pub fn info(&self, id: RunId) -> Option<RunInfo> {
        match self.runs.get(&id) {
            Some(r) => Some(r.info()),
            None => self.store.run(id).map(|row| {
                let mut info = row.info(id);
                if let Some(job) = self.store.job(id) {
                    job.fill(&mut info);
                }
                info
            }),
        }
    }

    /// Snapshots of every run held in memory, oldest first (with a store,
    /// older runs are in [`Store::history`]).
    pub fn list(&self) -> Vec<RunInfo> {
        let mut all: Vec<RunInfo> = self.runs.iter().map(|r| r.info()).collect();
        all.sort_by_key(|info| info.id);
        all
    }

    /// Number of known runs (all statuses).
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is known.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Wait for `id` to finish and return its outcome.
    ///
    /// # Errors
    /// `UnknownRun` if the id is not known; otherwise the run's own error
    /// (timed out, cancelled, interrupted by shutdown or actor failure...).
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops waiting.
    pub async fn wait(&self, id: RunId) -> Result<Output> {
        let record = self.get(id).ok_or(Error::UnknownRun(id))?;
        record.wait().await
    }

    /// Ask run `id` to stop. Finished runs are left alone (`Ok`).
    ///
    /// # Errors
    /// `UnknownRun` if the id is not known.
    pub fn cancel(&self, id: RunId) -> Result<()> {
        let record = self.get(id).ok_or(Error::UnknownRun(id))?;
        record.request_cancel();
        Ok(())
    }

    /// Record the outcome of `record` and move it to its terminal status
    /// (derived from the outcome by [`terminal_status`]), waking its waiters.
    /// The one way a run ends.
    ///
    /// With a store the end is journaled and committed first, then recorded
    /// here, so a waiter never sees an outcome a crash could take back. If
    /// the commit fails the outcome is still recorded here (and logged):
    /// the run is over either way. Without a store nothing is waited for.
    ///
    /// # Errors
    /// [`IllegalTransition`] if the run had already finished; its first
    /// outcome stays.
    ///
    /// # Cancel safety
    /// Not cancel safe: with a store, a future dropped while it waits for
    /// the commit has journaled the end but not recorded it here.
    pub async fn finish(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
    ) -> Result<RunStatus, IllegalTransition> {
        self.finish_timed(record, outcome, tokio::time::Instant::now())
            .await
    }

    /// [`finish`](Self::finish), timed (for the metrics) by the caller's
    /// monotonic clock reading `at`: the runner's end-of-run reading, which
    /// also gives the run's duration and its trace event's end.
    pub(crate) async fn finish_timed(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
        at: tokio::time::Instant,
    ) -> Result<RunStatus, IllegalTransition> {
        let now = SystemTime::now();
        if self.store.is_enabled() {
            self.journal_end(record, &outcome, now)?;
            if let Err(e) = self.store.sync().await {
                tracing::error!(run = %record.id, error = %e, "the end of the run is not durable");
            }
        }
        self.finish_at(record, outcome, now, at)
    }

    /// [`finish`](Self::finish) without waiting for the store's commit
    /// (the end is journaled all the same), for who cannot wait: a drop
    /// guard, or a run whose store has just failed to commit.
    pub(crate) fn finish_now(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
    ) -> Result<RunStatus, IllegalTransition> {
        self.finish_now_timed(record, outcome, tokio::time::Instant::now())
    }

    /// [`finish_now`](Self::finish_now), timed by the caller's monotonic
    /// clock reading `at` (see [`finish_timed`](Self::finish_timed)).
    pub(crate) fn finish_now_timed(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
        at: tokio::time::Instant,
    ) -> Result<RunStatus, IllegalTransition> {
        let now = SystemTime::now();
        if self.store.is_enabled() {
            self.journal_end(record, &outcome, now)?;
        }
        self.finish_at(record, outcome, now, at)
    }

    /// Record `outcome` here only, journaling nothing: the store keeps the
    /// run as it last journaled it. For a delayed launch let go of at
    /// shutdown, which stays `Queued` in the store so that the next start
    /// runs it at its due time; its waiters here get `outcome`.
    ///
    /// # Errors
    /// [`IllegalTransition`] if the run had already finished.
    pub(crate) fn finish_unjournaled(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
    ) -> Result<RunStatus, IllegalTransition> {
        self.finish_at(
            record,
            outcome,
            SystemTime::now(),
            tokio::time::Instant::now(),
        )
    }

    /// [`finish`](Self::finish) at time `now` (`at` on the monotonic
    /// clock), without journaling.
    fn finish_at(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
        now: SystemTime,
        at: tokio::time::Instant,
    ) -> Result<RunStatus, IllegalTransition> {
        let status = terminal_status(&outcome);
        let event = crate::events::finish_summary(&record.events, &outcome);
        let held = outcome.as_ref().map_or(0, Output::held_bytes)
            + record.lines().map_or(0, |lines| lines.held_bytes());
        {
            let mut state = record.state.lock();
            let from = state.status;
            state.advance(record.id, status, now)?;
            if let Some(metrics) = &record.metrics {
                metrics.finished_at(
                    record.pattern,
                    from,
                    status,
                    (state.started_at != NOT_STARTED).then_some(state.started_at),
                    at,
                );
            }
            if let Ok(out) = &outcome {
                state.exit_code = out.exit_code;
                state.attempts = state.attempts.max(out.attempts);
            }
            state.outcome = Some(Box::new(outcome));
            state.pid = None;
        }
        record.done.notify_waiters();
        crate::events::run_finished(
            &record.events,
            record.correlation(),
            record.id,
            status,
            event,
        );
        if let Some(lines) = record.lines() {
            lines.close();
        }
        self.index_finished(record, now);
        self.retire(record.id, held);
        Ok(status)
    }

    fn retire(&self, id: RunId, held: usize) {
        let mut evict = Vec::new();
        let mut strip = Vec::new();
        {
            let mut fin = self.finished.lock();
            fin.order.push_back(id);
            if held > 0 {
                fin.with_output.push_back((id, held));
                fin.output_bytes += held;
            }
            while fin.order.len() > self.retention.history_limit {
                let Some(old) = fin.order.pop_front() else {
                    break;
                };
                // `with_output` is a subsequence of `order` (both are pushed
                // here, in finishing order), so an evicted run that still
                // holds output is at its front. Forget its bytes with it:
                // otherwise freed output would keep counting against the
                // budget, and the queue would grow without bound when the
                // budget is large.
                if fin.with_output.front().is_some_and(|&(id, _)| id == old)
                    && let Some((_, bytes)) = fin.with_output.pop_front()
                {
                    fin.output_bytes -= bytes;
                }
                evict.push(old);
            }
            while fin.output_bytes > self.retention.output_budget {
                let Some((old, bytes)) = fin.with_output.pop_front() else {
                    break;
                };
                fin.output_bytes -= bytes;
                strip.push(old);
            }
        }
        // Map updates happen outside the retention lock so readers of other
        // runs never wait on it.
        for old in evict {
            if let Some((_, gone)) = self.runs.remove(&old) {
                self.metrics.removed(gone.pattern, gone.status());
                self.index_evicted(&gone);
            }
        }
        for old in strip {
            if let Some(record) = self.get(old) {
                record.strip_output();
            }
        }
    }
}

/// The terminal status an outcome maps to.
pub fn terminal_status(outcome: &Result<Output>) -> RunStatus {
    match outcome {
        Ok(out) if out.success() => RunStatus::Succeeded,
        Ok(_) => RunStatus::Failed,
        Err(Error::TimedOut { .. }) => RunStatus::TimedOut,
        Err(Error::Cancelled { .. }) => RunStatus::Cancelled,
        Err(Error::ActorFailed { .. } | Error::ShuttingDown) => RunStatus::Interrupted,
        Err(_) => RunStatus::Failed,
    }
}

/// One run's record, shared by the registry, the task running it and its
/// waiters.
#[derive(Debug)]
pub struct RunRecord {
    id: RunId,
    name: String,
    pattern: Pattern,
    queued: SystemTime,
    // When it was admitted, on the metrics clock (its queue wait).
    queued_at: u64,
    state: Mutex<RunState>,
    cancel_requested: AtomicBool,
    done: Notify,
    // The run's output lines, attached when its first process starts (or
    // when a reader asks first); closed when the run finishes.
    lines: OnceLock<Arc<LineLog>>,
    // The request that started the run (none for scheduled runs): set by
    // its actor right after registering it, read by the runner for the
    // trace and the child's TRACEPARENT.
    correlation: OnceLock<Correlation>,
    // Where this run's changes are journaled.
    store: Store,
    // Where this run's events go.
    events: Events,
    // Its job options, due time and rerun link; `None` for the many runs
    // without any, so they cost one word.
    job: Option<Box<job::JobFacts>>,
    // Where its start and end are counted (`None` for a copy read back
    // from the store, which counts nowhere).
    metrics: Option<Arc<MetricsRecorder>>,
    // The task it runs, when it was admitted with one (`Journal::WithTask`):
    // what `Orchestrator::rerun` starts again. `None` for runs admitted
    // without their task (a graph's) and for copies read back from the
    // store (the store keeps the task itself).
    task: Option<Arc<crate::task::Task>>,
}

#[derive(Debug)]
struct RunState {
    status: RunStatus,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
    exit_code: Option<i32>,
    attempts: u32,
    pid: Option<u32>,
    // The last failed attempt that is being retried; boxed, as most runs
    // never retry.
    retry: Option<Box<crate::run::RetryNotice>>,
    // Boxed: most records are finished and small; the outcome is the big part.
    outcome: Option<Box<Result<Output>>>,
    // Dropped at finish: only a live run needs a way to be stopped.
    token: Option<CancellationToken>,
    // When it started, on the metrics clock (its run time); NOT_STARTED
    // before. A sentinel, not an Option: 8 bytes less on every record
    // the registry keeps.
    started_at: u64,
}

/// `RunState::started_at` of a run that has not started.
const NOT_STARTED: u64 = u64::MAX;

impl RunState {
    /// The one place a status changes: refuses anything
    /// [`RunStatus::can_become`] does not allow.
    fn advance(
        &mut self,
        run: RunId,
        next: RunStatus,
        now: SystemTime,
    ) -> Result<(), IllegalTransition> {
        if !self.status.can_become(next) {
            return Err(IllegalTransition {
                run,
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        if next == RunStatus::Running {
            self.started = Some(now);
        } else {
            self.finished = Some(now);
            // Only a live run needs a way to be stopped.
            self.token = None;
        }
        Ok(())
    }
}

impl RunRecord {
    /// The run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pattern running it.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The task the run was admitted with, if it was kept in memory (see
    /// [`Journal::WithTask`]); `None` for a run admitted without its task
    /// and for a run read back from the store (ask
    /// [`Store::stored_run`](crate::store::Store::stored_run) there).
    pub fn task(&self) -> Option<&Arc<crate::task::Task>> {
        self.task.as_ref()
    }

    /// Current status.
    pub fn status(&self) -> RunStatus {
        self.state.lock().status
    }

    /// A snapshot.
    pub fn info(&self) -> RunInfo {
        self.snapshot(&self.state.lock())
    }

    /// A snapshot from state already locked (queries test the status and
    /// take the snapshot under one lock).
    fn snapshot(&self, state: &RunState) -> RunInfo {
        RunInfo {
            id: self.id,
            name: self.name.clone(),
            status: state.status,
            pattern: self.pattern,
            queued: self.queued,
            started: state.started,
            finished: state.finished,
            exit_code: state.exit_code,
            attempts: state.attempts,
            stdout_dropped: dropped(state, |out| out.stdout_dropped),
            stderr_dropped: dropped(state, |out| out.stderr_dropped),
            key: self.key().map(str::to_string),
            labels: self.labels().clone(),
        }
    }

    /// Move from `Queued` to `Running`.
    ///
    /// # Errors
    /// [`IllegalTransition`] if the run is not queued (already started or
    /// finished, for instance cancelled while it waited).
    ///
    /// With a store, the start is journaled; the runner waits for it to be
    /// durable ([`durable`](Self::durable)) before any work starts.
    pub fn start(&self) -> Result<(), IllegalTransition> {
        self.start_at(tokio::time::Instant::now())
    }

    /// [`start`](Self::start), timed by the caller's monotonic clock
    /// reading `at` (see [`MetricsRecorder::started_at`]).
    pub(crate) fn start_at(&self, at: tokio::time::Instant) -> Result<(), IllegalTransition> {
        let now = SystemTime::now();
        {
            let mut state = self.state.lock();
            state.advance(self.id, RunStatus::Running, now)?;
            if let Some(metrics) = &self.metrics {
                state.started_at = metrics.started_at(self.pattern, self.queued_at, at);
            }
        }
        durable::journal_started(self, now);
        crate::events::run_started(&self.events, self.correlation(), self.id);
        Ok(())
    }

    /// Note the start of attempt `n` (1-based).
    pub fn set_attempt(&self, n: u32) {
        self.state.lock().attempts = n;
    }

    /// Note that an attempt failed and will be retried, and wake
    /// [`next_retry`](Self::next_retry) waiters.
    pub fn note_retry(&self, notice: crate::run::RetryNotice) {
        self.state.lock().retry = Some(Box::new(notice));
        // `wait` callers wake too, see no outcome and wait again.
        self.done.notify_waiters();
    }

    /// The first retry notice of an attempt after `seen`, once there is
    /// one; `None` once the run has finished without one.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next_retry(&self, seen: u32) -> Option<crate::run::RetryNotice> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state.lock();
                if let Some(retry) = state.retry.as_deref()
                    && retry.attempt > seen
                {
                    return Some(retry.clone());
                }
                if state.outcome.is_some() {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// The attempt running (or last run), 1 for the first; 0 before it.
    pub fn attempt(&self) -> u32 {
        self.state.lock().attempts
    }

    /// Note the pid (and process group) of the running attempt.
    pub fn set_pid(&self, pid: Option<u32>) {
        let attempt = {
            let mut state = self.state.lock();
            state.pid = pid;
            state.attempts
        };
        if let Some(pid) = pid {
            durable::journal_pid(self, pid, attempt);
        }
    }

    /// The pid of the running attempt, if it is a process.
    pub fn pid(&self) -> Option<u32> {
        self.state.lock().pid
    }

    /// The token that stops this run (`None` once it has finished).
    pub fn token(&self) -> Option<CancellationToken> {
        self.state.lock().token.clone()
    }

    /// Whether the caller asked to cancel (as opposed to the runtime
    /// stopping it).
    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Acquire)
    }

    /// Ask the run to stop; its runner terminates it and records
    /// `Cancelled`. No effect on a finished run.
    pub fn request_cancel(&self) {
        let token = {
            let state = self.state.lock();
            if state.status.is_terminal() {
                return;
            }
            state.token.clone()
        };
        self.cancel_requested.store(true, Ordering::Release);
        if let Some(token) = token {
            token.cancel();
        }
    }

    /// The outcome, if the run has finished.
    pub fn outcome(&self) -> Option<Result<Output>> {
        self.state.lock().outcome.as_deref().cloned()
    }

    /// Wait for the outcome.
    ///
    /// # Errors
    /// The run's own error, as [`Registry::wait`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait(&self) -> Result<Output> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a finish between the
            // check and the await still wakes us.
            notified.as_mut().enable();
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            notified.await;
        }
    }

    /// Tie the run to the request that started it (the first call wins).
    pub fn correlate(&self, correlation: Correlation) {
        let _ = self.correlation.set(correlation);
    }

    /// The request that started the run, if it was tied to one.
    pub fn correlation(&self) -> Option<Correlation> {
        self.correlation.get().copied()
    }

    /// Where this run's events go.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The run's line ring, if it has one (runs of a process have one
    /// from their first spawn; in-process actions have none).
    pub fn lines(&self) -> Option<&Arc<LineLog>> {
        self.lines.get()
    }

    /// The run's line ring, attaching the one `init` makes if it has none.
    pub fn lines_or_init(&self, init: impl FnOnce() -> Arc<LineLog>) -> &Arc<LineLog> {
        self.lines.get_or_init(init)
    }

    fn strip_output(&self) {
        if let Some(lines) = self.lines() {
            lines.strip();
        }
        let mut state = self.state.lock();
        if let Some(outcome) = state.outcome.as_deref_mut()
            && let Ok(out) = outcome
        {
            out.stdout_dropped += out.stdout.len() as u64;
            out.stderr_dropped += out.stderr.len() as u64;
            out.stdout_truncated |= !out.stdout.is_empty();
            out.stderr_truncated |= !out.stderr.is_empty();
            out.stdout = Vec::new();
            out.stderr = Vec::new();
        }
    }
}

/// A dropped-bytes count of the outcome held in `state` (0 without one).
fn dropped(state: &RunState, count: impl Fn(&Output) -> u64) -> u64 {
    match state.outcome.as_deref() {
        Some(Ok(out)) => count(out),
        _ => 0,
    }
}
