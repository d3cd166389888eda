//! The registry's hooks into the durable store: what each change of a run
//! journals, runs resumed after a restart, the journaled end of a run, and
//! records read back from the store.
//!
//! Without a store every hook returns at once (see [`Store::journal`]).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{
    Admission, IllegalTransition, Journal, Registry, RunRecord, RunState, terminal_status,
};
use crate::error::Result;
use crate::lines::LineLog;
use crate::output::Output;
use crate::run::{RunId, RunStatus};
use crate::store::{Finish, Op, OutcomeRow, OutputRow, ResumedRun, RunRow, Store};
use crate::task::Task;

impl Admission<'_> {
    /// A run found `Queued` in the store after a restart, put back under
    /// its own id, name and time of acceptance; it is already stored, so
    /// nothing is journaled.
    pub fn resumed(run: &ResumedRun) -> Self {
        Admission {
            id: run.id,
            name: run.name.clone(),
            pattern: run.pattern,
            queued: run.queued,
            parent: None,
            journal: Journal::Skip,
            job: std::borrow::Cow::Owned(run.job.clone()),
            due: run.due,
            rerun_of: run.rerun_of,
        }
    }
}

impl Registry {
    /// Journal the end of `record` at `now`, unless it has ended already.
    pub(super) fn journal_end(
        &self,
        record: &RunRecord,
        outcome: &Result<Output>,
        now: SystemTime,
    ) -> Result<(), IllegalTransition> {
        // Journal only an end that will be recorded.
        let (from, to) = (record.status(), terminal_status(outcome));
        if !from.can_become(to) {
            return Err(IllegalTransition {
                run: record.id,
                from,
                to,
            });
        }
        journal_finished(record, outcome, now);
        Ok(())
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
            queued_at: 0,
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
                started_at: super::NOT_STARTED,
            }),
            cancel_requested: AtomicBool::new(false),
            done: Notify::new(),
            lines,
            correlation: OnceLock::new(),
            store: Store::disabled(),
            // A read-back copy changes nothing worth an event.
            events: crate::events::Events::new(1),
            job: self
                .store
                .job(id)
                .map(|row| super::job::JobFacts::from_row(&row)),
            metrics: None,
            // The store holds the task; `Store::stored_run` reads it.
            task: None,
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
        job: record.job.as_ref().map(|facts| Box::new(facts.row())),
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
