//! The store's one writer: a thread that owns every write transaction.
//!
//! Group commit: the thread blocks for the first change, takes everything
//! else already queued (up to [`MAX_BATCH`]), applies it in one redb
//! transaction and commits it (one fsync), then answers the `Sync`s of the
//! batch. Changes that arrive during a commit form the next batch, so the
//! busier the runtime, the more changes each fsync carries; an idle one
//! commits each change as it comes. Nothing waits on a timer.
//!
//! A run's changes are deltas (started, pid, finished) applied to its row:
//! within a batch the row is read at most once and written once.
//!
//! Retention runs here too, after the batch's changes and in the same
//! transaction, a bounded step at a time ([`RETENTION_STEP`] rows), so one
//! commit never stalls on a large backlog: finished runs past
//! `history_limit` go oldest first (never a queued or running one), and
//! output past `output_budget` goes oldest first.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use redb::{Database, ReadableTable, ReadableTableMetadata, Table};

use super::FaultSwitch;
use super::graphs;
use super::records::{self, OutputRow, RunRow};
use super::{ACTIVE, META, OUTPUT, Op, RUNS, SCHEDULES, StoreLimits};
use crate::error::{Error, Result};
use crate::run::{RunId, RunStatus};

/// Most changes in one transaction: bounds the memory a batch holds and
/// the time its `Sync`s wait.
const MAX_BATCH: usize = 4096;

/// Most rows retention deletes per commit.
const RETENTION_STEP: usize = 512;

/// The writer thread's state.
pub(super) struct Writer {
    db: Arc<Database>,
    path: PathBuf,
    limits: StoreLimits,
    /// Bytes in the output table (mirrored in `META`).
    output_bytes: u64,
    /// Commits to fail on purpose.
    faults: Arc<FaultSwitch>,
}

impl Writer {
    pub(super) fn new(
        db: Arc<Database>,
        path: PathBuf,
        limits: StoreLimits,
        output_bytes: u64,
        faults: Arc<FaultSwitch>,
    ) -> Self {
        Writer {
            db,
            path,
            limits,
            output_bytes,
            faults,
        }
    }

    /// Serve `ops` until `Close` (or every sender is gone).
    pub(super) fn run(mut self, ops: Receiver<Op>) {
        let mut closing: Option<std::sync::mpsc::Sender<()>> = None;
        while closing.is_none() {
            let Ok(first) = ops.recv() else {
                break;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match ops.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let mut syncs = Vec::new();
            let mut changes = Vec::with_capacity(batch.len());
            for op in batch {
                match op {
                    Op::Sync(tx) => syncs.push(tx),
                    Op::Close(tx) => closing = Some(tx),
                    other => changes.push(other),
                }
            }
            let result = if changes.is_empty() {
                Ok(())
            } else {
                self.commit(changes)
            };
            if let Err(e) = &result {
                tracing::error!(path = %self.path.display(), error = %e, "store commit failed");
            }
            for tx in syncs {
                let _ = tx.send(result.clone());
            }
        }
        // Dropping `self` drops our handle to the database; `close` takes
        // the readers' one.
        drop(self);
        if let Some(tx) = closing {
            let _ = tx.send(());
        }
    }

    fn commit(&mut self, changes: Vec<Op>) -> Result<()> {
        let before = self.output_bytes;
        // An injected failure hits this commit's first write inside redb.
        self.faults.arm_for_commit();
        let result = self.apply(changes);
        self.faults.disarm();
        if result.is_err() {
            // The transaction was rolled back with its byte count.
            self.output_bytes = before;
        }
        result.map_err(|e| Error::Store {
            path: self.path.clone(),
            reason: format!("write failed: {e}"),
        })
    }

    fn apply(&mut self, changes: Vec<Op>) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        // Graph changes touch tables of their own: opened only when a batch
        // has any, so runs-only commits cost what they did.
        let (graph_ops, changes): (Vec<Op>, Vec<Op>) =
            changes.into_iter().partition(graphs::is_graph_op);
        if !graph_ops.is_empty() {
            graphs::apply(&txn, graph_ops, self.limits)?;
        }
        {
            let mut runs = txn.open_table(RUNS)?;
            let mut active = txn.open_table(ACTIVE)?;
            let mut outputs = txn.open_table(OUTPUT)?;
            let mut schedules = txn.open_table(SCHEDULES)?;
            // Rows changed by this batch, written once at the end.
            let mut rows: HashMap<RunId, RunRow> = HashMap::new();
            for op in changes {
                match op {
                    Op::Queued { id, row } => {
                        active.insert(id.as_bytes(), ())?;
                        rows.insert(id, *row);
                    }
                    Op::Started { id, at } => {
                        if let Some(row) = row_mut(&mut rows, &runs, id)? {
                            row.status = RunStatus::Running;
                            row.started = Some(at);
                        }
                    }
                    Op::Pid { id, pid, attempt } => {
                        if let Some(row) = row_mut(&mut rows, &runs, id)? {
                            row.pid = Some(pid);
                            row.attempts = row.attempts.max(attempt);
                        }
                    }
                    Op::Finished { id, end } => {
                        active.remove(id.as_bytes())?;
                        if let Some(row) = row_mut(&mut rows, &runs, id)? {
                            row.status = end.status;
                            row.finished = Some(end.at);
                            row.exit_code = end.exit_code;
                            row.attempts = row.attempts.max(end.attempts);
                            row.pid = None;
                            row.outcome = Some(end.outcome);
                        }
                        if let Some(output) = end.output {
                            self.put_output(&mut outputs, id, &output)?;
                        }
                    }
                    Op::Schedule { name, row } => {
                        schedules.insert(name.as_str(), records::encode(&*row).as_slice())?;
                    }
                    Op::ScheduleRemoved { name } => {
                        schedules.remove(name.as_str())?;
                    }
                    Op::Sync(_)
                    | Op::Close(_)
                    | Op::Graph { .. }
                    | Op::GraphTask { .. }
                    | Op::GraphFinished { .. } => {}
                }
            }
            for (id, row) in &rows {
                runs.insert(id.as_bytes(), records::encode(row).as_slice())?;
            }
            self.retain(&mut runs, &active, &mut outputs)?;
            txn.open_table(META)?
                .insert("output_bytes", self.output_bytes)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn put_output(
        &mut self,
        outputs: &mut Table<&[u8; 16], &[u8]>,
        id: RunId,
        output: &OutputRow,
    ) -> Result<(), redb::Error> {
        let bytes = records::encode(output);
        // Output that alone exceeds the budget would only push out every
        // other run's: it is not stored (the run's record says how much
        // there was).
        if bytes.len() as u64 > self.limits.output_budget as u64 {
            return Ok(());
        }
        if let Some(old) = outputs.insert(id.as_bytes(), bytes.as_slice())? {
            self.output_bytes = self.output_bytes.saturating_sub(old.value().len() as u64);
        }
        self.output_bytes += bytes.len() as u64;
        Ok(())
    }

    /// One bounded retention step (see the module docs).
    fn retain(
        &mut self,
        runs: &mut Table<&[u8; 16], &[u8]>,
        active: &Table<&[u8; 16], ()>,
        outputs: &mut Table<&[u8; 16], &[u8]>,
    ) -> Result<(), redb::Error> {
        let finished = runs.len()?.saturating_sub(active.len()?);
        let excess = finished.saturating_sub(self.limits.history_limit as u64);
        let mut budget = RETENTION_STEP;
        if excess > 0 {
            let mut doomed = Vec::new();
            for entry in runs.iter()? {
                if doomed.len() as u64 >= excess || budget == 0 {
                    break;
                }
                budget -= 1;
                let key = *entry?.0.value();
                if active.get(&key)?.is_none() {
                    doomed.push(key);
                }
            }
            for key in doomed {
                runs.remove(&key)?;
                if let Some(old) = outputs.remove(&key)? {
                    self.output_bytes = self.output_bytes.saturating_sub(old.value().len() as u64);
                }
            }
        }
        while budget > 0 && self.output_bytes > self.limits.output_budget as u64 {
            budget -= 1;
            let Some((_, old)) = outputs.pop_first()? else {
                self.output_bytes = 0;
                break;
            };
            self.output_bytes = self.output_bytes.saturating_sub(old.value().len() as u64);
        }
        Ok(())
    }
}

/// The row of `id` as this batch has it: from the batch, else from the
/// table. `None` if the run is not stored (a change for a run whose own
/// `Queued` commit failed, or one removed by retention).
fn row_mut<'a>(
    rows: &'a mut HashMap<RunId, RunRow>,
    runs: &Table<&[u8; 16], &[u8]>,
    id: RunId,
) -> Result<Option<&'a mut RunRow>, redb::Error> {
    match rows.entry(id) {
        Entry::Occupied(slot) => Ok(Some(slot.into_mut())),
        Entry::Vacant(slot) => {
            let Some(bytes) = runs.get(id.as_bytes())? else {
                return Ok(None);
            };
            match records::decode::<RunRow>(bytes.value()) {
                Ok(row) => Ok(Some(slot.insert(row))),
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "unreadable stored run left as it is");
                    Ok(None)
                }
            }
        }
    }
}
