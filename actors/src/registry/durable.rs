//! The registry's hooks into the durable store: what each change of a run
//! journals, runs accepted with their task, runs resumed after a restart,
//! the durable end of a run, and records read back from the store.
//!
//! Without a store every hook returns at once (see [`Store::journal`]).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{IllegalTransition, Registry, RunRecord, RunState, terminal_status};
use crate::error::Result;
use crate::lines::LineLog;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::run::{RunId, RunStatus};
use crate::store::{Finish, Op, OutcomeRow, OutputRow, ResumedRun, RunRow, Store};
use crate::task::Task;

impl Registry {
    /// Accept a run of `task` under `name`: as
    /// [`register`](Self::register), and with a store the task is journaled
    /// with it, so the run can be started again if the application stops
    /// before it starts.
    pub fn register_task(
        &self,
        name: impl Into<String>,
        task: &Task,
        pattern: Pattern,
        parent: Option<&CancellationToken>,
    ) -> Arc<RunRecord> {
        self.insert(
            RunId::new(),
            name.into(),
            pattern,
            SystemTime::now(),
            parent,
            Some(Some(task)),
        )
    }

    /// Accept a run, as [`register`](Self::register), journaled with a
    /// store but without its task: its history and output survive a
    /// restart, and a restart never starts it on its own (a run found
    /// `Queued` without a task ends `Interrupted`). For runs whose owner
    /// decides what runs again: a task graph's.
    pub fn register_journaled(
        &self,
        name: impl Into<String>,
        pattern: Pattern,
        parent: Option<&CancellationToken>,
    ) -> Arc<RunRecord> {
        self.insert(
            RunId::new(),
            name.into(),
            pattern,
            SystemTime::now(),
            parent,
            Some(None),
        )
    }

    /// Put back a run found `Queued` in the store after a restart, under
    /// its own id, `Queued`; it is already stored, so nothing is journaled.
    pub fn restore(&self, run: &ResumedRun, parent: Option<&CancellationToken>) -> Arc<RunRecord> {
        self.insert(
            run.id,
            run.name.clone(),
            run.pattern,
            run.queued,
            parent,
            None,
        )
    }

    /// [`finish`](Self::finish), durably: the end is journaled and
    /// committed first, then recorded here, which wakes the waiters. So a
    /// waiter never sees an outcome a crash could take back. If the commit
    /// fails the outcome is still recorded here (and logged): the run is
    /// over either way.
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    pub async fn finish_durable(
        &self,
        record: &RunRecord,
        outcome: Result<Output>,
    ) -> Result<RunStatus, IllegalTransition> {
        if !self.store.is_enabled() {
            return self.finish(record, outcome);
        }
        let status = terminal_status(&outcome);
        let from = record.status();
        if !from.can_become(status) {
            return Err(IllegalTransition {
                run: record.id,
                from,
                to: status,
            });
        }
        let now = SystemTime::now();
        journal_finished(record, &outcome, now);
        if let Err(e) = self.store.sync().await {
            tracing::error!(run = %record.id, error = %e, "the end of the run is not durable");
        }
        self.finish_at(record, outcome, now)
    }

    /// A finished run of the store (from before a restart, or evicted from
    /// memory), as a record of its own: not added to the registry, so
    /// memory retention is unchanged.
    pub(super) fn stored(&self, id: RunId) -> Option<Arc<RunRecord>> {
        let (row, output) = self.store.run_with_output(id)?;
        let outcome = row
            .outcome
            .as_ref()
            .map(|o| Box::new(o.outcome(id, &row, output.as_ref())));
        let lines = OnceLock::new();
        if let Some(output) = &output {
            let _ = lines.set(Arc::new(LineLog::restore(id, &output.lines, &output.times)));
        }
        Some(Arc::new(RunRecord {
            id,
            name: row.name.clone(),
            pattern: row.pattern,
            queued: crate::store::time(row.queued),
            state: Mutex::new(RunState {
                status: row.status,
                started: row.started.map(crate::store::time),
                finished: row.finished.map(crate::store::time),
                exit_code: row.exit_code,
                attempts: row.attempts,
                pid: None,
                retry: None,
                outcome,
                // A stored run that is not finished belongs to a live
                // runtime in memory; this copy cannot stop it.
                token: None,
            }),
            cancel_requested: AtomicBool::new(false),
            done: Notify::new(),
            lines,
            correlation: OnceLock::new(),
            store: Store::disabled(),
            // A read-back copy changes nothing worth an event.
            events: crate::events::Events::new(1),
        }))
    }
}

impl RunRecord {
    /// Wait until every change of this run journaled so far is durable (at
    /// once without a store).
    ///
    /// # Errors
    /// `Error::Store` if the commit failed.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn durable(&self) -> Result<()> {
        self.store.sync().await
    }
}

pub(super) fn journal_queued(record: &RunRecord, task: Option<&Task>) {
    record.store.journal(|| Op::Queued {
        id: record.id,
        row: Box::new(RunRow {
            name: record.name.clone(),
            pattern: record.pattern,
            status: RunStatus::Queued,
            queued: crate::store::micros(record.queued),
            started: None,
            finished: None,
            exit_code: None,
            attempts: 0,
            pid: None,
            task: task.cloned(),
            outcome: None,
        }),
    });
}

pub(super) fn journal_started(record: &RunRecord, at: SystemTime) {
    record.store.journal(|| Op::Started {
        id: record.id,
        at: crate::store::micros(at),
    });
}

pub(super) fn journal_pid(record: &RunRecord, pid: u32, attempt: u32) {
    record.store.journal(|| Op::Pid {
        id: record.id,
        pid,
        attempt,
    });
}

pub(super) fn journal_finished(record: &RunRecord, outcome: &Result<Output>, at: SystemTime) {
    record.store.journal(|| {
        let attempts = record.state.lock().attempts;
        let (exit_code, attempts, stdout, stderr) = match outcome {
            Ok(out) => (
                out.exit_code,
                attempts.max(out.attempts),
                out.stdout.clone(),
                out.stderr.clone(),
            ),
            Err(_) => (None, attempts, Vec::new(), Vec::new()),
        };
        let timed = record.timed_captured();
        let output = OutputRow {
            stdout,
            stderr,
            lines: timed.output,
            times: timed.times,
        };
        Op::Finished {
            id: record.id,
            end: Box::new(Finish {
                status: terminal_status(outcome),
                at: crate::store::micros(at),
                exit_code,
                attempts,
                outcome: OutcomeRow::from_outcome(outcome),
                output: (!output.is_empty()).then_some(output),
            }),
        }
    });
}
