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
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use redb::{Database, ReadableTable, ReadableTableMetadata, Table};

use super::FaultSwitch;
use super::records::{self, JobRow, OutputRow, RunRow};
use super::{
    ACTIVE, HALT, JOBS, LABELS, META, OUTPUT, Op, QUEUES, RUNS, SCHEDULES, SERVICES, StoreLimits,
};
use super::{graphs, recover};
use crate::error::{Error, Result};
use crate::metrics::LatencyWindow;
use crate::run::{RunId, RunStatus};

/// Most changes in one transaction: bounds the memory a batch holds and
/// the time its `Sync`s wait.
const MAX_BATCH: usize = 4096;

/// Most rows retention deletes per commit.
const RETENTION_STEP: usize = 512;

/// Longest wait between two attempts to reopen a store whose writes
/// fail; the first comes at once, then every [`FIRST_RETRY`] doubling.
const MAX_RETRY: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(20);

/// Most changes kept for the next commit while the store is unavailable:
/// bounds the memory a long outage holds (runs are refused meanwhile, so
/// only runs already in flight add to it).
const MAX_PENDING: usize = 1 << 16;

/// The readers' handle to the database, swapped by the writer on reopen.
pub(super) type ReadSlot = Arc<RwLock<Option<Arc<Database>>>>;

/// The writer thread's state.
pub(super) struct Writer {
    /// `None` while the store is unavailable (see [`Down`]).
    db: Option<Arc<Database>>,
    readers: ReadSlot,
    path: PathBuf,
    limits: StoreLimits,
    /// Bytes in the output table (mirrored in `META`).
    output_bytes: u64,
    /// Commits to fail on purpose.
    faults: Arc<FaultSwitch>,
    /// Changes not committed yet: a batch's, or every change since a
    /// write failed (they are committed, in order, once the store is back).
    pending: Vec<Op>,
    down: Option<Down>,
    /// How long each successful commit took (`Store::commit_metrics`).
    commits: Arc<LatencyWindow>,
}

/// A store whose writes fail: when to try again, and why.
struct Down {
    reason: String,
    retry_in: Duration,
    next: Instant,
}

/// What the writer waits for next.
enum Next {
    Op(Op),
    /// The time to try the store again.
    Retry,
    /// Every sender is gone.
    Gone,
}

impl Writer {
    pub(super) fn new(
        db: Arc<Database>,
        readers: ReadSlot,
        path: PathBuf,
        limits: StoreLimits,
        output_bytes: u64,
        faults: Arc<FaultSwitch>,
        commits: Arc<LatencyWindow>,
    ) -> Self {
        Writer {
            db: Some(db),
            readers,
            path,
            limits,
            output_bytes,
            faults,
            pending: Vec::new(),
            down: None,
            commits,
        }
    }

    /// Serve `ops` until `Close` (or every sender is gone).
    pub(super) fn run(mut self, ops: Receiver<Op>) {
        let mut closing: Option<std::sync::mpsc::Sender<()>> = None;
        while closing.is_none() {
            let first = match &self.down {
                None => ops.recv().map_or(Next::Gone, Next::Op),
                Some(down) => {
                    match ops.recv_timeout(down.next.saturating_duration_since(Instant::now())) {
                        Ok(op) => Next::Op(op),
                        Err(RecvTimeoutError::Timeout) => Next::Retry,
                        Err(RecvTimeoutError::Disconnected) => Next::Gone,
                    }
                }
            };
            let mut batch = Vec::new();
            match first {
                Next::Op(op) => batch.push(op),
                Next::Retry => {}
                Next::Gone => break,
            }
            while batch.len() < MAX_BATCH {
                match ops.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let mut syncs = Vec::new();
            let mut blocking = Vec::new();
            for op in batch {
                match op {
                    Op::Sync(tx) => syncs.push(tx),
                    Op::SyncBlocking(tx) => blocking.push(tx),
                    Op::Close(tx) => closing = Some(tx),
                    other => self.pending.push(other),
                }
            }
            let result = self.step(closing.is_some());
            for tx in syncs {
                let _ = tx.send(result.clone());
            }
            for tx in blocking {
                let _ = tx.send(result.clone());
            }
        }
        if !self.pending.is_empty() {
            tracing::error!(
                path = %self.path.display(),
                changes = self.pending.len(),
                "the store stopped with changes it could not write"
            );
        }
        // Dropping `self` drops our handle to the database; `close` takes
        // the readers' one.
        drop(self);
        if let Some(tx) = closing {
            let _ = tx.send(());
        }
    }

    /// Commit what is pending, or try the store again if it is down and
    /// it is time (or the store is closing). Answers whether everything
    /// journaled so far is now committed.
    fn step(&mut self, closing: bool) -> Result<()> {
        if let Some(down) = &self.down {
            if !closing && Instant::now() < down.next {
                self.bound_pending();
                return Err(self.unavailable());
            }
            return self.recover();
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.commit() {
            Ok(()) => Ok(()),
            Err(Failure::Disk(e)) => {
                tracing::warn!(path = %self.path.display(), error = %e, "store write failed; reopening");
                self.down = Some(Down {
                    reason: e,
                    retry_in: FIRST_RETRY,
                    next: Instant::now(),
                });
                // At once: a one-off error (EIO on one write) costs no one
                // a refusal.
                self.recover()
            }
            Err(Failure::Other(e)) => {
                // Not the disk: the same changes would fail again. They are
                // dropped (and logged); whoever waits for them is told.
                tracing::error!(path = %self.path.display(), error = %e, changes = self.pending.len(), "store commit failed; its changes are not stored");
                self.pending.clear();
                Err(Error::Store {
                    path: self.path.clone(),
                    reason: format!("write failed: {e}"),
                })
            }
        }
    }

    /// Reopen the file and commit what is pending; on failure, wait
    /// longer before the next try.
    fn recover(&mut self) -> Result<()> {
        let attempt = self.reopen().and_then(|()| {
            if self.pending.is_empty() {
                Ok(())
            } else {
                self.commit().map_err(|f| match f {
                    Failure::Disk(e) | Failure::Other(e) => e,
                })
            }
        });
        match attempt {
            Ok(()) => {
                if self.down.take().is_some() {
                    tracing::info!(path = %self.path.display(), "store writes work again");
                }
                Ok(())
            }
            Err(e) => {
                let down = self.down.get_or_insert(Down {
                    reason: String::new(),
                    retry_in: FIRST_RETRY,
                    next: Instant::now(),
                });
                down.reason = e;
                down.next = Instant::now() + down.retry_in;
                down.retry_in = (down.retry_in * 2).min(MAX_RETRY);
                self.bound_pending();
                Err(self.unavailable())
            }
        }
    }

    /// Close the database handle (ours and the readers') and open the
    /// file again: redb latches a failed write (`PreviousIo`) until then,
    /// and its open repairs what the failed commit left.
    fn reopen(&mut self) -> Result<(), String> {
        self.readers.write().take();
        self.db = None;
        let db = Arc::new(recover::create(&self.path, &self.faults).map_err(|e| e.to_string())?);
        *self.readers.write() = Some(Arc::clone(&db));
        self.db = Some(db);
        Ok(())
    }

    /// Drop the oldest pending changes past [`MAX_PENDING`].
    fn bound_pending(&mut self) {
        if self.pending.len() > MAX_PENDING {
            let lost = self.pending.len() - MAX_PENDING;
            tracing::error!(path = %self.path.display(), lost, "store unavailable for long: oldest changes not stored");
            self.pending.drain(..lost);
        }
    }

    fn unavailable(&self) -> Error {
        let reason = self.down.as_ref().map_or("", |d| d.reason.as_str());
        Error::StoreUnavailable {
            path: self.path.clone(),
            reason: format!(
                "a write failed ({reason}); the store is reopening and refuses work that needs a \
                 commit until one succeeds: free disk space or fix the disk, then try again \
                 (what was acknowledged before is kept)"
            ),
        }
    }

    /// Commit the pending changes in one transaction; they stay pending
    /// if it fails. A panic inside the storage engine is a failure too.
    fn commit(&mut self) -> Result<(), Failure> {
        let Some(db) = self.db.clone() else {
            return Err(Failure::Disk("the store is not open".into()));
        };
        let before = self.output_bytes;
        // An injected failure hits this commit's first write inside redb.
        self.faults.arm_for_commit();
        let changes = std::mem::take(&mut self.pending);
        let began = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.apply(&db, &changes)));
        self.faults.disarm();
        match result {
            Ok(Ok(())) => {
                // Transaction and fsync: what a waiter for durability waits.
                self.commits.record(crate::metrics::nanos(began.elapsed()));
                Ok(())
            }
            Ok(Err(e)) => {
                // The transaction was rolled back with its byte count.
                self.output_bytes = before;
                self.pending = changes;
                Err(match e {
                    redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                        Failure::Disk(e.to_string())
                    }
                    other => Failure::Other(other.to_string()),
                })
            }
            Err(_) => {
                self.output_bytes = before;
                self.pending = changes;
                // The handle may be half-way through anything: reopen it.
                Err(Failure::Disk("the database engine panicked".into()))
            }
        }
    }

    fn apply(&mut self, db: &Database, changes: &[Op]) -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        // Graph changes touch tables of their own: opened only when a batch
        // has any, so runs-only commits cost what they did.
        if changes.iter().any(graphs::is_graph_op) {
            graphs::apply(&txn, changes, self.limits)?;
        }
        {
            let mut runs = txn.open_table(RUNS)?;
            let mut active = txn.open_table(ACTIVE)?;
            let mut outputs = txn.open_table(OUTPUT)?;
            let mut schedules = txn.open_table(SCHEDULES)?;
            // Rows changed by this batch, written once at the end.
            let mut rows: HashMap<RunId, RunRow> = HashMap::new();
            // Job options of runs accepted in this batch: their table is
            // opened only when there are any (or retention removes a run).
            let mut jobs: Vec<(RunId, &JobRow)> = Vec::new();
            for op in changes {
                match op {
                    Op::Queued { id, row, job } => {
                        active.insert(id.as_bytes(), ())?;
                        rows.insert(*id, (**row).clone());
                        if let Some(job) = job {
                            jobs.push((*id, job));
                        }
                    }
                    Op::Started { id, at } => {
                        if let Some(row) = row_mut(&mut rows, &runs, *id)? {
                            row.status = RunStatus::Running;
                            row.started = Some(*at);
                        }
                    }
                    Op::Pid { id, pid, attempt } => {
                        if let Some(row) = row_mut(&mut rows, &runs, *id)? {
                            row.pid = Some(*pid);
                            row.attempts = row.attempts.max(*attempt);
                        }
                    }
                    Op::Finished { id, end } => {
                        active.remove(id.as_bytes())?;
                        if let Some(row) = row_mut(&mut rows, &runs, *id)? {
                            row.status = end.status;
                            row.finished = Some(end.at);
                            row.exit_code = end.exit_code;
                            row.attempts = row.attempts.max(end.attempts);
                            row.pid = None;
                            row.outcome = Some(end.outcome.clone());
                        }
                        if let Some(output) = &end.output {
                            self.put_output(&mut outputs, *id, output)?;
                        }
                    }
                    Op::Schedule { name, row } => {
                        schedules
                            .insert(name.as_str(), records::encode(row.as_ref()).as_slice())?;
                    }
                    Op::ScheduleRemoved { name } => {
                        schedules.remove(name.as_str())?;
                    }
                    Op::Halt { reason } => {
                        let mut halt = txn.open_table(HALT)?;
                        match reason {
                            Some(reason) => halt.insert("reason", reason.as_str())?,
                            None => halt.remove("reason")?,
                        };
                    }
                    Op::Queue { name, row } => {
                        txn.open_table(QUEUES)?
                            .insert(name.as_str(), records::encode(row).as_slice())?;
                    }
                    Op::Service { name, record } => {
                        let mut table = txn.open_table(SERVICES)?;
                        match record {
                            Some(bytes) => table.insert(name.as_str(), bytes.as_slice())?,
                            None => table.remove(name.as_str())?,
                        };
                    }
                    Op::Sync(_)
                    | Op::SyncBlocking(_)
                    | Op::Close(_)
                    | Op::Graph { .. }
                    | Op::GraphTask { .. }
                    | Op::GraphFinished { .. }
                    | Op::GraphReopened { .. }
                    | Op::GraphExtras { .. } => {}
                }
            }
            for (id, row) in &rows {
                runs.insert(id.as_bytes(), records::encode(row).as_slice())?;
            }
            let removed = self.retain(&mut runs, &active, &mut outputs)?;
            if !jobs.is_empty() || !removed.is_empty() {
                let mut table = txn.open_table(JOBS)?;
                let mut labels = txn.open_table(LABELS)?;
                for (id, job) in jobs {
                    table.insert(id.as_bytes(), job.encode().as_slice())?;
                    for (k, v) in &job.labels {
                        labels.insert((format!("{k}={v}").as_str(), id.as_bytes()), ())?;
                    }
                }
                // After the inserts: a run accepted and retired in one batch
                // keeps no options, nor label entries.
                for key in &removed {
                    let Some(old) = table.remove(key)? else {
                        continue;
                    };
                    let Ok(job) = JobRow::decode(old.value()) else {
                        continue;
                    };
                    drop(old);
                    for (k, v) in &job.labels {
                        labels.remove((format!("{k}={v}").as_str(), key))?;
                    }
                }
            }
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
        let bytes = output.encode();
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

    /// One bounded retention step (see the module docs). Returns the runs
    /// it removed, whose job options go with them.
    fn retain(
        &mut self,
        runs: &mut Table<&[u8; 16], &[u8]>,
        active: &Table<&[u8; 16], ()>,
        outputs: &mut Table<&[u8; 16], &[u8]>,
    ) -> Result<Vec<[u8; 16]>, redb::Error> {
        let finished = runs.len()?.saturating_sub(active.len()?);
        let excess = finished.saturating_sub(self.limits.history_limit as u64);
        let mut budget = RETENTION_STEP;
        let mut removed = Vec::new();
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
            for key in &doomed {
                runs.remove(key)?;
                if let Some(old) = outputs.remove(key)? {
                    self.output_bytes = self.output_bytes.saturating_sub(old.value().len() as u64);
                }
            }
            removed = doomed;
        }
        while budget > 0 && self.output_bytes > self.limits.output_budget as u64 {
            budget -= 1;
            let Some((_, old)) = outputs.pop_first()? else {
                self.output_bytes = 0;
                break;
            };
            self.output_bytes = self.output_bytes.saturating_sub(old.value().len() as u64);
        }
        Ok(removed)
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

/// Why a commit failed.
enum Failure {
    /// The disk (an I/O error, or redb's latch after one): reopen and try
    /// the same changes again.
    Disk(String),
    /// Anything else: the same changes would fail again.
    Other(String),
}
