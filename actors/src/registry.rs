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
//! dropped).

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
use crate::lines::LineLog;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::run::{RunId, RunInfo, RunStatus};

/// Retention limits of a [`Registry`].
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Finished runs kept; older ones are forgotten (`UnknownRun`).
    pub history_limit: usize,
    /// Bytes of captured output kept across all finished runs; past it the
    /// oldest finished runs lose their output (the record stays).
    pub output_budget: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            history_limit: 10_000,
            output_budget: 64 << 20,
        }
    }
}

/// An illegal status change, refused by [`RunRecord::transition`].
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

/// All runs of one orchestrator.
#[derive(Debug)]
pub struct Registry {
    runs: DashMap<RunId, Arc<RunRecord>>,
    retention: Retention,
    finished: Mutex<Finished>,
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
        Registry {
            runs: DashMap::new(),
            retention,
            finished: Mutex::new(Finished::default()),
        }
    }

    /// Accept a run: record it as `Queued` and return its record.
    /// `parent` cancels the run along with it (an actor incarnation, a batch).
    pub fn register(
        &self,
        name: impl Into<String>,
        pattern: Pattern,
        parent: Option<&CancellationToken>,
    ) -> Arc<RunRecord> {
        let token = parent.map_or_else(CancellationToken::new, |p| p.child_token());
        let record = Arc::new(RunRecord {
            id: RunId::new(),
            name: name.into(),
            pattern,
            queued: SystemTime::now(),
            state: Mutex::new(RunState {
                status: RunStatus::Queued,
                started: None,
                finished: None,
                exit_code: None,
                attempts: 0,
                pid: None,
                outcome: None,
                token: Some(token),
            }),
            cancel_requested: AtomicBool::new(false),
            done: Notify::new(),
            lines: OnceLock::new(),
        });
        self.runs.insert(record.id, Arc::clone(&record));
        record
    }

    /// The record of `id`, if known.
    pub fn get(&self, id: RunId) -> Option<Arc<RunRecord>> {
        self.runs.get(&id).map(|r| Arc::clone(r.value()))
    }

    /// The status of `id`, if known.
    pub fn status(&self, id: RunId) -> Option<RunStatus> {
        self.runs.get(&id).map(|r| r.state.lock().status)
    }

    /// A snapshot of `id`, if known.
    pub fn info(&self, id: RunId) -> Option<RunInfo> {
        self.runs.get(&id).map(|r| r.info())
    }

    /// Snapshots of every known run, oldest first.
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
    ///
    /// # Errors
    /// [`IllegalTransition`] if the run had already finished; its first
    /// outcome stays.
    pub fn finish(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
    ) -> Result<RunStatus, IllegalTransition> {
        let status = terminal_status(&outcome);
        let held = outcome.as_ref().map_or(0, Output::held_bytes)
            + record.lines().map_or(0, |lines| lines.held_bytes());
        {
            let mut state = record.state.lock();
            state.advance(record.id, status)?;
            if let Ok(out) = &outcome {
                state.exit_code = out.exit_code;
                state.attempts = state.attempts.max(out.attempts);
            }
            state.outcome = Some(Box::new(outcome));
            state.pid = None;
        }
        record.done.notify_waiters();
        if let Some(lines) = record.lines() {
            lines.close();
        }
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
                if let Some(old) = fin.order.pop_front() {
                    evict.push(old);
                }
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
            self.runs.remove(&old);
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
    state: Mutex<RunState>,
    cancel_requested: AtomicBool,
    done: Notify,
    // The run's output lines, attached when its first process starts (or
    // when a reader asks first); closed when the run finishes.
    lines: OnceLock<Arc<LineLog>>,
}

#[derive(Debug)]
struct RunState {
    status: RunStatus,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
    exit_code: Option<i32>,
    attempts: u32,
    pid: Option<u32>,
    // Boxed: most records are finished and small; the outcome is the big part.
    outcome: Option<Box<Result<Output>>>,
    // Dropped at finish: only a live run needs a way to be stopped.
    token: Option<CancellationToken>,
}

impl RunState {
    /// The one place a status changes: refuses anything
    /// [`RunStatus::can_become`] does not allow.
    fn advance(&mut self, run: RunId, next: RunStatus) -> Result<(), IllegalTransition> {
        if !self.status.can_become(next) {
            return Err(IllegalTransition {
                run,
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        let now = SystemTime::now();
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

    /// Current status.
    pub fn status(&self) -> RunStatus {
        self.state.lock().status
    }

    /// A snapshot.
    pub fn info(&self) -> RunInfo {
        let state = self.state.lock();
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
        }
    }

    /// Move from `Queued` to `Running`.
    ///
    /// # Errors
    /// [`IllegalTransition`] if the run is not queued (already started or
    /// finished, for instance cancelled while it waited).
    pub fn start(&self) -> Result<(), IllegalTransition> {
        self.state.lock().advance(self.id, RunStatus::Running)
    }

    /// Note the start of attempt `n` (1-based).
    pub fn set_attempt(&self, n: u32) {
        self.state.lock().attempts = n;
    }

    /// Note the pid (and process group) of the running attempt.
    pub fn set_pid(&self, pid: Option<u32>) {
        self.state.lock().pid = pid;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok_output(id: RunId, code: i32, bytes: usize) -> Output {
        let mut out = Output::empty(id);
        out.exit_code = Some(code);
        out.stdout = vec![b'x'; bytes];
        out.attempts = 1;
        out
    }

    #[test]
    fn state_machine_allows_only_forward_moves() {
        use RunStatus::*;
        let all = [
            Queued,
            Running,
            Succeeded,
            Failed,
            Cancelled,
            TimedOut,
            Interrupted,
        ];
        for from in all {
            for to in all {
                let legal = match from {
                    Queued => to != Queued,
                    Running => to.is_terminal(),
                    _ => false,
                };
                assert_eq!(from.can_become(to), legal, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn illegal_moves_are_refused_and_change_nothing() {
        let reg = Registry::new(Retention::default());
        let run = reg.register("t", Pattern::Simple, None);
        assert_eq!(run.status(), RunStatus::Queued);
        run.start().unwrap();
        let err = run.start().unwrap_err();
        assert_eq!((err.from, err.to), (RunStatus::Running, RunStatus::Running));
        reg.finish(&run, Ok(ok_output(run.id(), 1, 0))).unwrap();
        assert!(run.start().is_err(), "finished -> running must be refused");
        let again = reg.finish(&run, Ok(ok_output(run.id(), 0, 0))).unwrap_err();
        assert_eq!(again.from, RunStatus::Failed);
        assert_eq!(run.status(), RunStatus::Failed, "first outcome stays");
        assert_eq!(run.outcome().unwrap().unwrap().exit_code, Some(1));
    }

    #[test]
    fn queued_run_may_end_without_running() {
        let reg = Registry::new(Retention::default());
        let run = reg.register("t", Pattern::FireAndForget, None);
        let status = reg.finish(
            &run,
            Err(Error::Cancelled {
                run: Some(run.id()),
            }),
        );
        assert_eq!(status, Ok(RunStatus::Cancelled));
        assert!(run.info().started.is_none());
        assert!(run.info().finished.is_some());
    }

    #[test]
    fn finish_maps_outcome_to_status_and_keeps_first() {
        let reg = Registry::new(Retention::default());
        let cases = [
            (Ok(0), RunStatus::Succeeded),
            (Ok(3), RunStatus::Failed),
            (
                Err(Error::TimedOut {
                    run: None,
                    after: Duration::from_secs(1),
                }),
                RunStatus::TimedOut,
            ),
            (Err(Error::Cancelled { run: None }), RunStatus::Cancelled),
            (Err(Error::ShuttingDown), RunStatus::Interrupted),
            (
                Err(Error::actor_failed("executor", "boom")),
                RunStatus::Interrupted,
            ),
        ];
        for (outcome, want) in cases {
            let run = reg.register("t", Pattern::Simple, None);
            run.start().unwrap();
            let outcome = outcome.map(|code| ok_output(run.id(), code, 0));
            assert_eq!(reg.finish(&run, outcome), Ok(want));
            assert_eq!(reg.status(run.id()), Some(want));
        }
    }

    #[test]
    fn history_limit_evicts_oldest_finished_never_running() {
        let reg = Registry::new(Retention {
            history_limit: 2,
            output_budget: usize::MAX,
        });
        let running = reg.register("long", Pattern::FireAndForget, None);
        running.start().unwrap();
        let ids: Vec<RunId> = (0..4)
            .map(|_| {
                let r = reg.register("t", Pattern::Simple, None);
                r.start().unwrap();
                reg.finish(&r, Ok(ok_output(r.id(), 0, 0))).unwrap();
                r.id()
            })
            .collect();
        assert_eq!(reg.status(ids[0]), None);
        assert_eq!(reg.status(ids[1]), None);
        assert_eq!(reg.status(ids[2]), Some(RunStatus::Succeeded));
        assert_eq!(reg.status(ids[3]), Some(RunStatus::Succeeded));
        assert_eq!(reg.status(running.id()), Some(RunStatus::Running));
        assert!(matches!(reg.cancel(ids[0]), Err(Error::UnknownRun(id)) if id == ids[0]));
    }

    #[test]
    fn output_budget_strips_oldest_output() {
        let reg = Registry::new(Retention {
            history_limit: 100,
            output_budget: 150,
        });
        let mut ids = Vec::new();
        for _ in 0..3 {
            let r = reg.register("t", Pattern::Simple, None);
            r.start().unwrap();
            reg.finish(&r, Ok(ok_output(r.id(), 0, 60))).unwrap();
            ids.push(r);
        }
        let first = ids[0].outcome().unwrap().unwrap();
        assert!(first.stdout.is_empty() && first.stdout_truncated);
        assert_eq!(first.stdout_dropped, 60);
        assert_eq!(ids[2].outcome().unwrap().unwrap().stdout.len(), 60);
    }

    #[tokio::test]
    async fn many_waiters_before_and_after_finish() {
        let reg = Arc::new(Registry::new(Retention::default()));
        let run = reg.register("t", Pattern::FireAndForget, None);
        let id = run.id();
        let early: Vec<_> = (0..5)
            .map(|_| {
                let reg = Arc::clone(&reg);
                tokio::spawn(async move { reg.wait(id).await })
            })
            .collect();
        tokio::task::yield_now().await;
        run.start().unwrap();
        reg.finish(&run, Ok(ok_output(id, 0, 3))).unwrap();
        for waiter in early {
            assert_eq!(waiter.await.unwrap().unwrap().stdout.len(), 3);
        }
        assert_eq!(reg.wait(id).await.unwrap().exit_code, Some(0));
    }

    #[test]
    fn cancel_fires_token_only_while_live() {
        let reg = Registry::new(Retention::default());
        let run = reg.register("t", Pattern::Simple, None);
        let token = run.token().unwrap();
        reg.cancel(run.id()).unwrap();
        assert!(token.is_cancelled() && run.cancel_requested());

        let done = reg.register("t", Pattern::Simple, None);
        done.start().unwrap();
        reg.finish(&done, Ok(ok_output(done.id(), 0, 0))).unwrap();
        reg.cancel(done.id()).unwrap();
        assert!(!done.cancel_requested());
    }

    #[test]
    fn parent_token_cancels_children() {
        let reg = Registry::new(Retention::default());
        let parent = CancellationToken::new();
        let run = reg.register("t", Pattern::Simple, Some(&parent));
        parent.cancel();
        assert!(run.token().unwrap().is_cancelled());
        assert!(!run.cancel_requested(), "runtime stop is not a user cancel");
    }
}
