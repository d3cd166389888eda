//! The durable store: an embedded redb database that keeps every accepted
//! run, its output and the schedules, so a restarted application finds its
//! history, stops what a crash left running, and starts again exactly once
//! what was accepted but never started.
//!
//! # What is written, and when
//! The run registry and the schedule store journal every change through a
//! [`Store`] handle; a disabled handle (no `Config::store`, the default)
//! makes every hook one branch, so the in-memory path costs what it did.
//! With a file, one writer thread owns the database and commits whatever
//! has queued up since its last commit in **one transaction** (group
//! commit): under load, one fsync carries hundreds of changes. Nobody is
//! told a change happened before its commit:
//! - `launch` answers only once the run's `Queued` record is durable;
//! - a run's `Running` record is durable before its process is spawned or
//!   its action called, so a run found `Queued` after a crash had
//!   certainly not started, and starting it again runs it once;
//! - a run's outcome is durable before its waiters are woken;
//! - a schedule is durable before `schedule` answers;
//! - a queue's declaration or pause is durable before `queue`,
//!   `pause_queue` or `resume_queue` answers.
//!
//! # Layout
//! - `records`: the record types (one per table) and their encoding
//!   (schema version byte + bincode); a run's job options are a
//!   `JobRow` in `JOBS`, written with its `Queued` record, read back
//!   into `ResumedRun` and `StoredRun`, and removed with the run; its
//!   labels have one entry each in `LABELS`, written and removed with
//!   the `JobRow` (the label index of `history`, see `history`); a
//!   declared queue is a `QueueRow` in `QUEUES`, read back into
//!   `Recovered` (restored by `queues::Queues::restore`).
//! - `writer`: the group-commit writer thread and background retention;
//!   after a failed write (a full disk, EIO: redb then fails every later
//!   operation of that handle) it reopens the file and commits what is
//!   pending, refusing meanwhile with `Error::StoreUnavailable`.
//! - `backend`: the file under redb, with the fault switch of
//!   `Fault::FailCommits`.
//! - `recover`: opening the file, and what a start finds: runs `Running`
//!   -> `Interrupted` (their process groups stopped), runs `Queued` ->
//!   resumed, schedules -> restored.
//! - `history`: a [`RunQuery`](crate::RunQuery) over the stored runs.
//! - `graphs`: task graphs (definition, per-task state), their changes,
//!   retention and recovery; graphs are adopted again by
//!   `graph::durable`.
//!
//! A new kind of state is one more table, one more record type and one
//! more `Op` variant, as `graphs` shows. New tables need no schema bump:
//! an older file gets them created empty on its first write.

mod backend;
mod config;
mod engine;
mod graphs;
mod history;
mod node;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
mod recover;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};
use redb::{Database, ReadableDatabase, TableDefinition};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::metrics::{LatencyWindow, StoreMetrics};
use crate::run::{RunId, RunInfo};

pub(crate) use backend::FaultSwitch;
pub use config::{PostgresUrl, StoreConfig};
use engine::Engine;
pub use graphs::StoredGraph;
pub(crate) use graphs::{
    GraphExtrasRow, GraphRow, GraphTaskDef, GraphTaskExtras, GraphTaskRow, StoredAccess,
    StoredExternal, StoredResource, StoredResourceId, StoredResourceKind, StoredTaskStatus,
};
pub use node::NodeInfo;
pub(crate) use records::{
    JobRow, OutcomeRow, OutputRow, QueueRow, RunRow, ScheduleRow, TriggerRow, micros, time,
};
pub(crate) use records::{decode as decode_record, encode as encode_record};
pub use recover::{Recovered, ResumedRun};
// The graph engine converts it in its own module; its tests build rows.
#[cfg(test)]
pub(crate) use graphs::StoredPriority;

/// Runs by id: [`RunRow`]s.
const RUNS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("runs");
/// Ids of the runs not finished (queued or running): what a start looks at.
const ACTIVE: TableDefinition<&[u8; 16], ()> = TableDefinition::new("active");
/// Captured output of finished runs, by run id: [`OutputRow`]s.
const OUTPUT: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("output");
/// Schedules by name: [`ScheduleRow`]s.
const SCHEDULES: TableDefinition<&str, &[u8]> = TableDefinition::new("schedules");
/// The emergency halt, while one is on: key "reason" (see `halt`).
const HALT: TableDefinition<&str, &str> = TableDefinition::new("halt");
/// Job options of runs that have any, by run id: [`JobRow`]s. Absent from
/// files written before job options existed (read as "no options"; created
/// by the first write).
const JOBS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("jobs");
/// Declared queues by name: [`QueueRow`]s (their limits and whether they
/// are paused). Absent from files written before queues existed (created
/// by the first write or recovery).
const QUEUES: TableDefinition<&str, &[u8]> = TableDefinition::new("queues");
/// The label index of stored runs: one entry per label of a run,
/// `("key=value", run id)`, written with the run's [`JobRow`] and removed
/// with it. A label key has no `=`, so the first `=` splits the two. A
/// label query is a range scan of one label's entries, newest run last.
const LABELS: TableDefinition<(&str, &[u8; 16]), ()> = TableDefinition::new("labels");
/// Supervised services by name: the bytes of a `service::durable`
/// record (the store does not read them). Absent from files written
/// before services existed (created by the first write or recovery).
const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
/// File-wide facts: the schema version, the output bytes stored.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file's schema version (in `META`): bumped when a release changes the
/// tables in a way an older one cannot read.
const SCHEMA: u64 = 1;

/// A change to journal (see [`Store::journal`]).
#[derive(Debug)]
pub(crate) enum Op {
    /// A run was accepted; `job`: its job options, if it has any (written
    /// to `JOBS` in the same transaction).
    Queued {
        id: RunId,
        row: Box<RunRow>,
        job: Option<Box<JobRow>>,
    },
    /// A run started (`at`: microseconds since the epoch).
    Started { id: RunId, at: u64 },
    /// A run's attempt `attempt` runs as process (group) `pid`.
    Pid { id: RunId, pid: u32, attempt: u32 },
    /// A run ended.
    Finished { id: RunId, end: Box<Finish> },
    /// A schedule was added or changed.
    Schedule { name: String, row: Box<ScheduleRow> },
    /// A schedule was removed.
    ScheduleRemoved { name: String },
    /// A task graph was accepted (`key`: its store key).
    Graph { key: [u8; 16], row: Box<GraphRow> },
    /// Task `index` of graph `key` started or ended.
    GraphTask {
        key: [u8; 16],
        index: u32,
        row: Box<GraphTaskRow>,
    },
    /// Graph `key` finished: not resumed again, subject to retention.
    GraphFinished { key: [u8; 16] },
    /// Graph `key` was reopened by a retry: active again, and the rows of
    /// its tasks `reset` (back to `Pending`, which is never stored) gone.
    GraphReopened { key: [u8; 16], reset: Vec<u32> },
    /// What graph `key`'s definition does not carry of its tasks (their
    /// dependencies outside it, their job options), written with the
    /// definition when any task has any.
    GraphExtras {
        key: [u8; 16],
        row: Box<GraphExtrasRow>,
    },
    /// The runtime was halted for `Some(reason)`, or resumed (`None`).
    Halt { reason: Option<String> },
    /// A queue was declared, changed, paused or resumed.
    Queue { name: String, row: QueueRow },
    /// A service was supervised or changed (`Some(record)`), or removed.
    Service {
        name: String,
        record: Option<Vec<u8>>,
    },
    /// Answer once everything before it is committed.
    Sync(oneshot::Sender<Result<()>>),
    /// The same, for a caller that blocks (a std channel).
    SyncBlocking(mpsc::Sender<Result<()>>),
    /// Commit what is queued and stop the writer (a std channel: `close`
    /// blocks, from any thread).
    Close(mpsc::Sender<()>),
}

/// The end of a run, as journaled.
#[derive(Debug)]
pub(crate) struct Finish {
    pub(crate) status: crate::run::RunStatus,
    pub(crate) at: u64,
    pub(crate) exit_code: Option<i32>,
    pub(crate) attempts: u32,
    pub(crate) outcome: OutcomeRow,
    pub(crate) output: Option<OutputRow>,
}

/// A handle to the durable store of one runtime, or to none (see the
/// module docs). Cheap to clone.
#[derive(Clone, Default)]
pub struct Store {
    shared: Option<Arc<dyn Engine>>,
}

/// The redb store: the file, its writer thread and the readers' handle.
pub(crate) struct Shared {
    path: PathBuf,
    ops: mpsc::Sender<Op>,
    // For reads. Taken (and the file closed) by `close`; swapped by the
    // writer when it reopens the file after a failed write.
    db: writer::ReadSlot,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Commits to fail on purpose (`Fault::FailCommits`).
    faults: Arc<FaultSwitch>,
    /// How long each commit took, recorded by the writer thread.
    commits: Arc<LatencyWindow>,
}

impl Shared {
    fn close(&self) {
        let (tx, rx) = mpsc::channel();
        if self.ops.send(Op::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        // Readers hold the lock while they read, so once we have it the
        // last handle to the database is ours, and dropping it closes it.
        self.db.write().take();
    }
}

impl Drop for Shared {
    /// The last handle gone without `close` (an orchestrator dropped
    /// without `shutdown`): still commit what is queued and release the
    /// file, so it can be opened again at once.
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            None => f.write_str("Store(in memory)"),
            Some(shared) => write!(f, "Store({})", shared.location().display()),
        }
    }
}

/// One run as the store keeps it (see [`Store::stored_run`]).
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The run's record.
    pub info: RunInfo,
    /// What it runs (for a graph task's run, the task from its graph's
    /// definition); `None` for runs registered without a task.
    pub task: Option<crate::task::Task>,
    /// How it ended (`None` while it is not finished): the output `wait`
    /// returns, or the error it ended with.
    pub outcome: Option<Result<crate::output::Output>>,
    /// Its output lines (empty if it had none, or the output budget
    /// reclaimed them: then `dropped` counts them).
    pub lines: crate::lines::CapturedOutput,
    /// When each of `lines.lines` was captured; empty (unknown) for a run
    /// stored by a release that did not keep the times.
    pub line_times: crate::lines::LineTimes,
    /// Its job options (also on `task`); empty for a run without any, or
    /// one stored before job options existed.
    pub job: crate::task::JobOptions,
    /// When it was due to start, as fixed when it was accepted (`None`:
    /// at once).
    pub due: Option<std::time::SystemTime>,
    /// The run it reruns, if it is a rerun.
    pub rerun_of: Option<RunId>,
}

/// Limits of what the store keeps: the same as the registry's.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Finished runs kept; the oldest (by acceptance) go first.
    pub history_limit: usize,
    /// Bytes of captured output kept across finished runs; the oldest go
    /// first (their run records stay).
    pub output_budget: usize,
    /// How long a process group a crash left running gets between SIGTERM
    /// and SIGKILL.
    pub kill_grace: std::time::Duration,
}

impl Store {
    /// No store: nothing is written, every hook returns at once.
    pub fn disabled() -> Self {
        Store { shared: None }
    }

    /// Open (or create) the store at `path`, recover what a previous run
    /// of the application left in it, and start its writer. Blocking: call
    /// it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// `Error::Store { path, reason }`: the directory cannot be created,
    /// the file is read-only, corrupt, from a newer release, or open in
    /// another orchestrator. The reason says what to do; the file is left
    /// as it was.
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<(Store, Recovered)> {
        let path = path.as_ref().to_path_buf();
        let faults = Arc::new(FaultSwitch::default());
        let (db, recovered, output_bytes) = recover::open(&path, limits, &faults)?;
        let db = Arc::new(db);
        let readers: writer::ReadSlot = Arc::new(RwLock::new(Some(Arc::clone(&db))));
        let (ops, rx) = mpsc::channel();
        let commits = Arc::new(LatencyWindow::new(crate::metrics::LATENCY_WINDOW));
        let writer = writer::Writer::new(
            db,
            Arc::clone(&readers),
            path.clone(),
            limits,
            output_bytes,
            Arc::clone(&faults),
            Arc::clone(&commits),
        );
        let handle = std::thread::Builder::new()
            .name("taskorch-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Store {
                path: path.clone(),
                reason: format!("could not start the store's writer thread: {e}"),
            })?;
        let shared: Arc<dyn Engine> = Arc::new(Shared {
            path,
            ops,
            db: readers,
            writer: Mutex::new(Some(handle)),
            faults,
            commits,
        });
        Ok((
            Store {
                shared: Some(shared),
            },
            recovered,
        ))
    }

    /// Open the store at `path` for reading only, as it is: no recovery
    /// (runs a crash left `Running` still read `Running`, and no process
    /// is signalled; the next [`open`](Self::open) recovers them), no
    /// writer, and no byte of the file changed, even after a crash (redb's
    /// repair runs in memory). Works on a file (and directory) the caller
    /// may read but not write. For readers outside the runtime (the
    /// `taskorch` CLI's `runs`, `show` and `logs`). Blocking: call it from
    /// `spawn_blocking` in async code.
    ///
    /// # Errors
    /// `Error::Store { path, reason }`: the file is missing, unreadable,
    /// damaged, from a newer release, or open for writing elsewhere
    /// ([`Error::is_store_in_use`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let db = recover::open_read_only(&path)?;
        let readers: writer::ReadSlot = Arc::new(RwLock::new(Some(Arc::new(db))));
        // No writer: journaled changes (none are made by a reader) go
        // nowhere, and `close` only releases the file.
        let (ops, _) = mpsc::channel();
        let shared: Arc<dyn Engine> = Arc::new(Shared {
            path,
            ops,
            db: readers,
            writer: Mutex::new(None),
            faults: Arc::default(),
            // No writer, no commit.
            commits: Arc::new(LatencyWindow::new(1)),
        });
        Ok(Store {
            shared: Some(shared),
        })
    }

    /// Open (or create) the PostgreSQL store at `url`: connect, apply the
    /// schema migrations, recover what a previous start left in it, and
    /// start its writer. Blocking: call it from `spawn_blocking` in async
    /// code. See the `postgres` module for what is stored and guaranteed.
    ///
    /// # Errors
    /// [`Error::InvalidStoreUrl`] (the URL does not parse),
    /// [`Error::StoreConnect`] (unreachable, wrong credentials, or the
    /// database is in use by another orchestrator),
    /// [`Error::StoreSchemaTooNew`] (written by a newer taskorch), and
    /// `Error::Store` if recovery fails.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, limits: StoreLimits) -> Result<(Store, Recovered)> {
        let (engine, recovered) = postgres::Postgres::open(url, limits)?;
        let shared: Arc<dyn Engine> = Arc::new(engine);
        Ok((
            Store {
                shared: Some(shared),
            },
            recovered,
        ))
    }

    /// Open the PostgreSQL store at `url` for reading only, as it is: no
    /// migration, no recovery, no writer, and no lock, so it works while an
    /// orchestrator holds the database. For readers outside the runtime
    /// (the `taskorch` CLI's `runs`, `show` and `logs`). Blocking.
    ///
    /// # Errors
    /// [`Error::InvalidStoreUrl`], [`Error::StoreConnect`] or
    /// [`Error::StoreSchemaTooNew`], as for [`open_postgres`](Self::open_postgres).
    #[cfg(feature = "postgres")]
    pub fn open_postgres_read_only(url: &str) -> Result<Store> {
        let shared: Arc<dyn Engine> = Arc::new(postgres::Postgres::open_read_only(url)?);
        Ok(Store {
            shared: Some(shared),
        })
    }

    /// The switch that fails commits on purpose (`Fault::FailCommits`);
    /// `None` without a file.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) fn fault_switch(&self) -> Option<Arc<FaultSwitch>> {
        self.shared.as_ref().and_then(|s| s.faults())
    }

    /// The commits of the writer so far (count and latency); `None`
    /// without a file.
    pub fn commit_metrics(&self) -> Option<StoreMetrics> {
        self.shared.as_ref().map(|s| {
            let commit_latency = s.commits().summary();
            StoreMetrics {
                commits: commit_latency.count,
                commit_latency,
            }
        })
    }

    /// Whether a file backs this store.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// The database file, if any (for PostgreSQL: its URL without the
    /// password).
    pub fn path(&self) -> Option<&Path> {
        self.shared.as_deref().map(|s| s.location())
    }

    /// Queue `op` for the next commit (nothing if disabled). Never waits.
    pub(crate) fn journal(&self, op: impl FnOnce() -> Op) {
        if let Some(shared) = &self.shared {
            // Refused only once the writer has stopped (after `close`):
            // the runtime has shut down, and what still happens is not
            // journaled, as documented.
            let _ = shared.ops().send(op());
        }
    }

    /// Wait until everything journaled so far is committed (at once if
    /// disabled).
    ///
    /// # Errors
    /// `Error::Store` if the commit failed or the store is closed.
    ///
    /// # Cancel safety
    /// Cancel safe: the changes are committed whether or not anyone waits.
    pub(crate) async fn sync(&self) -> Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        if shared.ops().send(Op::Sync(tx)).is_err() {
            return Err(self.closed_error());
        }
        rx.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    /// [`sync`](Self::sync) for a caller that cannot await (the halt, a
    /// plain function): blocks the calling thread until the commit, at
    /// most `bound`.
    ///
    /// # Errors
    /// `Error::Store` if the commit failed, the store is closed or the
    /// commit took longer than `bound`.
    pub(crate) fn sync_blocking(&self, bound: std::time::Duration) -> Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        if shared.ops().send(Op::SyncBlocking(tx)).is_err() {
            return Err(self.closed_error());
        }
        match rx.recv_timeout(bound) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::StoreUnavailable {
                path: shared.location().to_path_buf(),
                reason: format!("the commit took longer than {bound:?}"),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.closed_error()),
        }
    }

    /// Commit what is queued, stop the writer and close the file, so the
    /// next `open` (in this process or another) finds it clean and
    /// unlocked. Idempotent; reads afterwards find nothing. Blocking.
    pub fn close(&self) {
        if let Some(shared) = &self.shared {
            shared.close();
        }
    }

    /// The stored run `id`.
    pub(crate) fn run(&self, id: RunId) -> Option<RunRow> {
        self.shared.as_ref()?.run(id)
    }

    /// The stored run `id` with its output.
    pub(crate) fn run_with_output(&self, id: RunId) -> Option<(RunRow, Option<OutputRow>)> {
        self.shared.as_ref()?.run_with_output(id)
    }

    /// Everything the store keeps of run `id`: its record, the task it
    /// ran, how it ended and its output lines. For readers outside the
    /// runtime (the `taskorch` CLI's `show` and `logs`), which have no
    /// registry to ask. `None` if the run is not stored (or unreadable,
    /// which is logged).
    pub fn stored_run(&self, id: RunId) -> Option<StoredRun> {
        let (row, output) = self.run_with_output(id)?;
        let outcome = row
            .outcome
            .as_ref()
            .map(|o| o.outcome(id, &row, output.as_ref()));
        let mut info = row.info(id);
        if let Some(Ok(out)) = &outcome {
            // Counts what the output budget reclaimed too.
            info.stdout_dropped = out.stdout_dropped;
            info.stderr_dropped = out.stderr_dropped;
        }
        let task = row.task.or_else(|| self.shared.as_ref()?.task_of_run(id));
        let (lines, line_times) = output.map(|o| (o.lines, o.times)).unwrap_or_default();
        let job = self.job(id);
        if let Some(job) = &job {
            job.fill(&mut info);
        }
        let options = job.as_ref().map(JobRow::options).unwrap_or_default();
        Some(StoredRun {
            info,
            task: task.map(|task| task.with_job(options.clone())),
            outcome,
            lines,
            line_times,
            job: options,
            due: job.as_ref().and_then(JobRow::due),
            rerun_of: job.as_ref().and_then(JobRow::rerun_of),
        })
    }

    /// The job options stored for run `id`: `None` if it had none, the
    /// file predates job options (no `jobs` table), or the row is
    /// unreadable (logged).
    pub(crate) fn job(&self, id: RunId) -> Option<JobRow> {
        self.shared.as_ref()?.job(id)
    }

    /// The caller's keys of stored runs that are live, or that finished
    /// at or after `since`, with the time they finished (`None`: live).
    /// Read when a registry is created, to rebuild its key index. Scans
    /// the `jobs` table (only runs with job options have a row).
    pub(crate) fn keyed_since(
        &self,
        since: std::time::SystemTime,
    ) -> Vec<(String, RunId, Option<std::time::SystemTime>)> {
        self.shared
            .as_ref()
            .map(|s| s.keyed_since(since))
            .unwrap_or_default()
    }

    /// Runs matching `query`, newest first.
    ///
    /// # Errors
    /// `Error::Store` if the database cannot be read.
    pub fn history(&self, query: &crate::run::RunQuery) -> Result<Vec<RunInfo>> {
        match &self.shared {
            None => Ok(Vec::new()),
            Some(shared) => shared.history(query),
        }
    }

    /// The orchestrators that started on this store, newest first, with
    /// their liveness: for PostgreSQL, every node on record (gone ones for
    /// a day); empty for the redb file, which one process holds.
    ///
    /// # Errors
    /// `Error::Store` or `Error::StoreUnavailable` if the database cannot
    /// be read.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>> {
        match &self.shared {
            None => Ok(Vec::new()),
            Some(shared) => shared.nodes(),
        }
    }

    /// Size of the database file in bytes (0 without one, and for
    /// PostgreSQL).
    pub fn file_size(&self) -> u64 {
        self.shared.as_ref().map_or(0, |s| s.size())
    }

    /// The stored status of task `index` of graph `key` (any graph, also a
    /// finished one retention has not removed): `None` if the graph or the
    /// task is not stored, or the task never started (`Pending`).
    pub(crate) fn graph_task_status(&self, key: [u8; 16], index: u32) -> Option<StoredTaskStatus> {
        self.shared.as_ref()?.graph_task_status(key, index)
    }

    fn closed_error(&self) -> Error {
        Error::Store {
            path: self.path().map(Path::to_path_buf).unwrap_or_default(),
            reason: "the store is closed (the orchestrator has shut down)".into(),
        }
    }
}

/// The redb backend of the store interface: the bodies are what `Store`
/// did before there was a second backend.
impl Engine for Shared {
    fn location(&self) -> &Path {
        &self.path
    }

    fn ops(&self) -> &mpsc::Sender<Op> {
        &self.ops
    }

    fn close(&self) {
        Shared::close(self);
    }

    fn faults(&self) -> Option<Arc<FaultSwitch>> {
        Some(Arc::clone(&self.faults))
    }

    fn commits(&self) -> &LatencyWindow {
        &self.commits
    }

    fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    fn run(&self, id: RunId) -> Option<RunRow> {
        self.read(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(RUNS)?;
            Ok(table.get(id.as_bytes())?.map(|v| v.value().to_vec()))
        })
        .flatten()
        .and_then(|bytes| decoded(id, &bytes))
    }

    fn run_with_output(&self, id: RunId) -> Option<(RunRow, Option<OutputRow>)> {
        let (row, output) = self
            .read(|db| {
                let txn = db.begin_read()?;
                let runs = txn.open_table(RUNS)?;
                let Some(row) = runs.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let outputs = txn.open_table(OUTPUT)?;
                let output = outputs.get(id.as_bytes())?.map(|v| v.value().to_vec());
                Ok(Some((row.value().to_vec(), output)))
            })
            .flatten()?;
        let row: RunRow = decoded(id, &row)?;
        let output = output.and_then(|bytes| {
            OutputRow::decode(&bytes)
                .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored output"))
                .ok()
        });
        Some((row, output))
    }

    fn task_of_run(&self, run: RunId) -> Option<crate::task::Task> {
        self.read(|db| graphs::task_of_run(db, run)).flatten()
    }

    fn job(&self, id: RunId) -> Option<JobRow> {
        let bytes = self
            .read(|db| {
                let txn = db.begin_read()?;
                let table = match txn.open_table(JOBS) {
                    Ok(table) => table,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                Ok(table.get(id.as_bytes())?.map(|v| v.value().to_vec()))
            })
            .flatten()?;
        JobRow::decode(&bytes)
            .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored job options"))
            .ok()
    }

    fn keyed_since(
        &self,
        since: std::time::SystemTime,
    ) -> Vec<(String, RunId, Option<std::time::SystemTime>)> {
        self.read(|db| history::keyed_since(db, since))
            .unwrap_or_default()
    }

    fn history(&self, query: &crate::run::RunQuery) -> Result<Vec<RunInfo>> {
        let db = self.db.read();
        let Some(db) = db.as_ref() else {
            return Err(self.unreadable_error());
        };
        history::scan(db, query).map_err(|e| Error::Store {
            path: self.path.clone(),
            reason: format!("reading the history failed: {e}"),
        })
    }

    fn graph_task_status(&self, key: [u8; 16], index: u32) -> Option<StoredTaskStatus> {
        self.read(|db| graphs::task_status(db, key, index))
            .flatten()
    }

    #[cfg(test)]
    fn as_redb(&self) -> Option<&Shared> {
        Some(self)
    }
}

impl Shared {
    fn read<T>(&self, f: impl FnOnce(&Database) -> Result<T, redb::Error>) -> Option<T> {
        let db = self.db.read();
        match f(db.as_ref()?) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "store read failed");
                None
            }
        }
    }

    /// Why there is no database to read: closed, or being reopened after
    /// a failed write.
    fn unreadable_error(&self) -> Error {
        if self.writer.lock().is_some() {
            return Error::StoreUnavailable {
                path: self.path.clone(),
                reason: "a write failed and the store is reopening; try again shortly".into(),
            };
        }
        Error::Store {
            path: self.path.clone(),
            reason: "the store is closed (the orchestrator has shut down)".into(),
        }
    }
}

fn decoded<T: serde::de::DeserializeOwned>(id: RunId, bytes: &[u8]) -> Option<T> {
    records::decode(bytes)
        .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored record"))
        .ok()
}
