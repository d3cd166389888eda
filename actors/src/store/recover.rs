//! Opening the store, and what a start finds in it.
//!
//! Opening never discards or overwrites what it cannot read: a corrupt
//! file, one from a newer release or one in use fails the start with
//! `Error::Store` and a reason that says what to do, and the file is left
//! as it was (redb's own crash repair aside, which is what it is for).
//! An existing file is verified first, read-only (redb's integrity check
//! on an in-memory overlay of it, see `backend`), and a panic of the
//! storage engine on a damaged file is a refusal, not a crash.
//!
//! Then, in one transaction, before anything else runs:
//! - a run found `Running` was cut short by the crash: it is marked
//!   `Interrupted`, and if its recorded process group is still alive *and
//!   ours* (a member carries the run's `TASKORCH_RUN_ID`; a recycled pid
//!   does not) it gets SIGTERM, then SIGKILL after `kill_grace`;
//! - a run found `Queued` had not started (a run's `Running` record is
//!   durable before it starts): it is handed back to be started, once;
//! - schedules are read back with their state, and the halt if one was
//!   on;
//! - unfinished task graphs are read back, their tasks' runs settled
//!   first (see `graphs`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::backend::{Backend, FaultSwitch, Overlay};
use super::graphs::{self, GraphRecovery, StoredGraph};
use super::records::{
    self, DecodeFailure, ErrorRow, JobRow, OutcomeRow, QueueRow, RunRow, ScheduleRow,
};
use super::{
    ACTIVE, HALT, JOBS, LABELS, META, OUTPUT, QUEUES, RUNS, SCHEDULES, SCHEMA, SERVICES,
    StoreLimits,
};
use crate::error::{Error, Result, STORE_IN_USE};
use crate::run::{RunId, RunStatus};
use crate::task::{JobOptions, Task};

/// What a start found in the store.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Runs accepted but never started: start each of them, once.
    pub queued: Vec<ResumedRun>,
    /// Runs that were running when the application stopped, now
    /// `Interrupted`.
    pub interrupted: Vec<RunId>,
    /// Process groups of interrupted runs that were still alive and were
    /// stopped.
    pub killed_groups: Vec<u32>,
    /// Schedules, by name.
    pub(crate) schedules: Vec<(String, ScheduleRow)>,
    /// Declared queues, by name.
    pub(crate) queues: Vec<(String, QueueRow)>,
    /// Supervised services, by name: their records (read by `service`).
    pub(crate) services: Vec<(String, Vec<u8>)>,
    /// Task graphs not finished: adopt each again (`graph::adopt`).
    pub graphs: Vec<StoredGraph>,
    /// The reason of the emergency halt that was on when the application
    /// stopped: the start halts again before anything runs.
    pub halted: Option<String>,
}

/// A run found `Queued`: what is needed to start it again.
#[derive(Debug, Clone)]
pub struct ResumedRun {
    /// The run's id (unchanged).
    pub id: RunId,
    /// The run's name.
    pub name: String,
    /// The pattern that accepted it.
    pub pattern: crate::pattern::Pattern,
    /// When it was accepted.
    pub queued: SystemTime,
    /// What it runs, with its job options.
    pub task: Task,
    /// Its job options (also on `task`); empty for a run without any, or
    /// one stored before job options existed.
    pub job: JobOptions,
    /// When it is due, as fixed when it was accepted (`None`: at once).
    pub due: Option<SystemTime>,
    /// The run it reruns, if it is a rerun.
    pub rerun_of: Option<RunId>,
}

/// Why a run found `Running` is `Interrupted`.
pub(super) fn crash_error() -> ErrorRow {
    ErrorRow::ActorFailed {
        actor: "runtime".into(),
        reason: "the application stopped (crash or kill) while the run was in flight".into(),
    }
}

/// Open `path` and recover (module docs). Returns the database, what was
/// found, and the bytes in the output table.
pub(super) fn open(
    path: &Path,
    limits: StoreLimits,
    faults: &Arc<FaultSwitch>,
) -> Result<(Database, Recovered, u64)> {
    let fail = |reason: String| Error::Store {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        // Owner only, like the file: it holds task environments and output.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| {
            fail(format!(
                "cannot create its directory {}: {e}; create it, or choose another path",
                dir.display()
            ))
        })?;
    }
    let checked = verify(path)?;
    // Verified, the file no longer makes redb panic; still, a panic while
    // reading it is a refusal, never a crash of the caller.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        open_verified(path, limits, faults, checked)
    }))
    .unwrap_or_else(|_| Err(panicked(path)))
}

fn open_verified(
    path: &Path,
    limits: StoreLimits,
    faults: &Arc<FaultSwitch>,
    checked: bool,
) -> Result<(Database, Recovered, u64)> {
    let fail = |reason: String| Error::Store {
        path: path.to_path_buf(),
        reason,
    };
    let db = create_checked(path, faults, checked)?;
    let output_bytes = check_schema(&db, path)?;
    let recovered = recover(&db, limits).map_err(|e| match e {
        Recovery::Store(e) => fail(format!(
            "reading it failed: {e}; the file was left as it is: restore a backup, or move it \
             aside to start with an empty history"
        )),
        Recovery::Record(id, e) => fail(format!(
            "the record of run {id} cannot be read ({e}); {}",
            remedy(&e)
        )),
        Recovery::Schedule(name, e) => fail(format!(
            "the record of schedule {name:?} cannot be read ({e}); {}",
            remedy(&e)
        )),
        Recovery::Graph(key, e) => fail(format!(
            "a record of task graph {key} cannot be read ({e}); {}",
            remedy(&e)
        )),
    })?;
    Ok((db, recovered, output_bytes))
}

fn remedy(e: &DecodeFailure) -> &'static str {
    match e {
        DecodeFailure::Newer(_) => {
            "it was written by a newer taskorch: upgrade, or point Config::store at another file; \
             the file was not modified"
        }
        DecodeFailure::Malformed(_) => {
            "the file was left as it is: restore a backup, or move it aside to start with an \
             empty history"
        }
    }
}

/// What to do about a damaged file, in every refusal that may be one.
const DAMAGED: &str = "the file was left untouched: move it aside (or delete it) to start with \
     an empty history, or restore it from a backup";

/// redb's open of the file for writing, with its errors (and a panic on a
/// file damaged outside redb) turned into reasons a user can act on.
/// `checked`: run redb's integrity check and repair on open (when
/// [`verify`] found the last commit damaged and fell back past it).
pub(super) fn create(path: &Path, faults: &Arc<FaultSwitch>) -> Result<Database> {
    create_checked(path, faults, false)
}

fn create_checked(path: &Path, faults: &Arc<FaultSwitch>, checked: bool) -> Result<Database> {
    // A panic inside redb leaves nothing of ours half-changed: the switch
    // is only shared.
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let backend = Backend::new(open_file(path)?, Arc::clone(faults))?;
        Database::builder()
            // Reads are point lookups and recent history: a modest cache.
            .set_cache_size(64 << 20)
            .set_check_integrity_on_open(checked)
            .create_with_backend(backend)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(refusal(path, e, "open it for writing")),
        Err(_) => Err(panicked(path)),
    }
}

/// The `Error::Store` of a redb open that failed while doing `what`.
fn refusal(path: &Path, e: redb::DatabaseError, what: &str) -> Error {
    let reason = match e {
        redb::DatabaseError::DatabaseAlreadyOpen => STORE_IN_USE.into(),
        redb::DatabaseError::UpgradeRequired(version) => format!(
            "the file uses redb file format {version}, which this release cannot read; the file \
             was not modified: open it with the release that wrote it, or choose another path"
        ),
        redb::DatabaseError::Storage(redb::StorageError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            format!(
                "cannot {what} ({e}); the store must be readable and writable: fix the \
                 permissions of the file and its directory, or choose another path"
            )
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(problem)) => {
            format!("the file is damaged ({problem}); {DAMAGED}")
        }
        e => format!("cannot {what}: {e}; if it is not a taskorch store or is damaged, {DAMAGED}"),
    };
    Error::Store {
        path: path.to_path_buf(),
        reason,
    }
}

/// The `Error::Store` of a panic inside the storage engine: only a file
/// damaged outside redb makes it panic.
fn panicked(path: &Path) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        reason: format!("the file is damaged (the database engine failed reading it); {DAMAGED}"),
    }
}

/// Check an existing file before anything is written to it: redb's
/// integrity check (every page of the committed trees against its
/// checksum, then the repair a crash needs) runs on an [`Overlay`], so
/// the file is only read, and a damaged one is refused as it is. Returns
/// whether the check fell back past a damaged last commit (as after a
/// crash mid-commit): then the real open must repair the same way.
fn verify(path: &Path) -> Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(refusal(
                path,
                redb::DatabaseError::Storage(redb::StorageError::Io(e)),
                "read it",
            ));
        }
    };
    if file.metadata().is_ok_and(|m| m.len() == 0) {
        // Empty: redb makes a new database of it.
        return Ok(false);
    }
    let fell_back = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&fell_back);
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let overlay = Overlay::new(file)?;
        Database::builder()
            .set_cache_size(16 << 20)
            .set_check_integrity_on_open(true)
            // redb reports progress 0.3 only when the last commit failed
            // its checksums and the repair falls back to the one before.
            .set_repair_callback(move |session| {
                if (session.progress() - 0.3).abs() < 1e-6 {
                    seen.store(true, Ordering::Relaxed);
                }
            })
            .create_with_backend(overlay)
            .map(drop)
    }));
    match checked {
        Ok(Ok(())) => {
            let fell_back = fell_back.load(Ordering::Relaxed);
            if fell_back {
                tracing::warn!(path = %path.display(), "the store's last commit was damaged (a crash mid-write?); opening from the one before");
            }
            Ok(fell_back)
        }
        Ok(Err(e)) => Err(refusal(path, e, "read it")),
        Err(_) => Err(panicked(path)),
    }
}

/// Open `path` for reading only (see `Store::open_read_only`): the file
/// is opened read-only and seen through an [`Overlay`], so redb's repair
/// of a file a crash left (and its integrity check) happen in memory, and
/// no byte of the file changes. Nothing is recovered: runs stay as the
/// crash left them, and no process is signalled.
pub(super) fn open_read_only(path: &Path) -> Result<Database> {
    let file = std::fs::File::open(path).map_err(|e| {
        refusal(
            path,
            redb::DatabaseError::Storage(redb::StorageError::Io(e)),
            "read it",
        )
    })?;
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let overlay = Overlay::new(file)?;
        Database::builder()
            .set_cache_size(16 << 20)
            .set_check_integrity_on_open(true)
            .create_with_backend(overlay)
    }));
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(refusal(path, e, "read it")),
        Err(_) => return Err(panicked(path)),
    };
    let read = db.begin_read().map_err(|e| Error::Store {
        path: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })?;
    let schema = match read.open_table(META) {
        Ok(meta) => meta.get("schema").ok().flatten().map(|v| v.value()),
        Err(_) => None,
    };
    drop(read);
    match schema {
        Some(version) if version > SCHEMA => Err(Error::Store {
            path: path.to_path_buf(),
            reason: format!(
                "it was written by a newer taskorch (store schema {version}; this release reads \
                 up to {SCHEMA}); upgrade taskorch to read it"
            ),
        }),
        _ => Ok(db),
    }
}

/// The file, opened as redb's `create` does; a new one is created
/// readable and writable by its owner only (it holds task environments,
/// stdin and output).
fn open_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Refuse a file of a newer schema before anything is written to it; set
/// up a new one. Returns the output bytes recorded in it.
fn check_schema(db: &Database, path: &Path) -> Result<u64> {
    let fail = |reason: String| Error::Store {
        path: path.to_path_buf(),
        reason,
    };
    let io = |e: redb::Error| fail(format!("cannot read it: {e}"));
    let read = db.begin_read().map_err(|e| io(e.into()))?;
    let (schema, output_bytes) = match read.open_table(META) {
        Ok(meta) => (
            meta.get("schema")
                .map_err(|e| io(e.into()))?
                .map(|v| v.value()),
            meta.get("output_bytes")
                .map_err(|e| io(e.into()))?
                .map_or(0, |v| v.value()),
        ),
        Err(redb::TableError::TableDoesNotExist(_)) => (None, 0),
        Err(e) => return Err(io(e.into())),
    };
    drop(read);
    match schema {
        Some(version) if version > SCHEMA => Err(fail(format!(
            "it was written by a newer taskorch (store schema {version}; this release reads up to \
             {SCHEMA}); the file was not modified: upgrade taskorch, or point Config::store at \
             another file"
        ))),
        Some(_) => Ok(output_bytes),
        None => {
            let init = || -> Result<(), redb::Error> {
                let txn = db.begin_write()?;
                txn.open_table(META)?.insert("schema", SCHEMA)?;
                txn.open_table(RUNS)?;
                txn.open_table(ACTIVE)?;
                txn.open_table(OUTPUT)?;
                txn.open_table(SCHEDULES)?;
                txn.open_table(JOBS)?;
                txn.open_table(LABELS)?;
                txn.open_table(QUEUES)?;
                txn.open_table(SERVICES)?;
                txn.open_table(graphs::GRAPHS)?;
                txn.open_table(graphs::GRAPH_TASKS)?;
                txn.open_table(graphs::GRAPHS_ACTIVE)?;
                txn.commit()?;
                Ok(())
            };
            init().map_err(|e| fail(format!("cannot initialise it: {e}")))?;
            Ok(0)
        }
    }
}

enum Recovery {
    Store(redb::Error),
    Record(RunId, DecodeFailure),
    Schedule(String, DecodeFailure),
    Graph(String, DecodeFailure),
}

impl From<GraphRecovery> for Recovery {
    fn from(e: GraphRecovery) -> Self {
        match e {
            GraphRecovery::Store(e) => Recovery::Store(e),
            GraphRecovery::Record(key, e) => Recovery::Graph(key, e),
        }
    }
}

impl<E: Into<redb::Error>> From<E> for Recovery {
    fn from(e: E) -> Self {
        Recovery::Store(e.into())
    }
}

fn recover(db: &Database, limits: StoreLimits) -> Result<Recovered, Recovery> {
    let mut found = Recovered::default();
    let mut groups = Vec::new();
    let txn = db.begin_write()?;
    {
        let mut runs = txn.open_table(RUNS)?;
        let mut active = txn.open_table(ACTIVE)?;
        let ids: Vec<[u8; 16]> = active
            .iter()?
            .map(|entry| entry.map(|(k, _)| *k.value()))
            .collect::<Result<_, _>>()?;
        let now = records::micros(SystemTime::now());
        // Graphs first: they read their tasks' runs as the crash left them.
        found.graphs = graphs::recover(&txn, &mut runs, &mut active, now)?;
        let ids: Vec<[u8; 16]> = ids
            .into_iter()
            .filter(|key| active.get(key).is_ok_and(|v| v.is_some()))
            .collect();
        for key in ids {
            let id = RunId::from_bytes(key);
            let Some(bytes) = runs.get(&key)?.map(|v| v.value().to_vec()) else {
                // Removed by retention (it never removes an active run) or
                // a stale marker: nothing to recover.
                active.remove(&key)?;
                continue;
            };
            let mut row: RunRow = records::decode(&bytes).map_err(|e| Recovery::Record(id, e))?;
            match (row.status, row.task.take()) {
                (RunStatus::Queued, Some(task)) => {
                    // Created empty on a file from before job options.
                    let jobs = txn.open_table(JOBS)?;
                    let job = match jobs.get(&key)? {
                        Some(bytes) => Some(
                            JobRow::decode(bytes.value()).map_err(|e| Recovery::Record(id, e))?,
                        ),
                        None => None,
                    };
                    let options = job.as_ref().map(JobRow::options).unwrap_or_default();
                    found.queued.push(ResumedRun {
                        id,
                        name: row.name,
                        pattern: row.pattern,
                        queued: records::time(row.queued),
                        task: task.with_job(options.clone()),
                        job: options,
                        due: job.as_ref().and_then(JobRow::due),
                        rerun_of: job.as_ref().and_then(JobRow::rerun_of),
                    });
                    continue;
                }
                (status, task) => {
                    row.task = task;
                    if let Some(pid) = row.pid.take() {
                        groups.push((pid, id));
                    }
                    let error = if status == RunStatus::Queued {
                        ErrorRow::ActorFailed {
                            actor: "runtime".into(),
                            reason: "the run was accepted without a task to start it again with"
                                .into(),
                        }
                    } else {
                        crash_error()
                    };
                    row.status = RunStatus::Interrupted;
                    row.finished = Some(now);
                    row.outcome = Some(OutcomeRow::Error(error));
                    runs.insert(&key, records::encode(&row).as_slice())?;
                    active.remove(&key)?;
                    found.interrupted.push(id);
                }
            }
        }
        let schedules = txn.open_table(SCHEDULES)?;
        for entry in schedules.iter()? {
            let (name, bytes) = entry?;
            let name = name.value().to_string();
            let row =
                records::decode(bytes.value()).map_err(|e| Recovery::Schedule(name.clone(), e))?;
            found.schedules.push((name, row));
        }
        // Created empty on a file from before queues.
        let queues = txn.open_table(QUEUES)?;
        for entry in queues.iter()? {
            let (name, bytes) = entry?;
            let name = name.value().to_string();
            match records::decode(bytes.value()) {
                Ok(row) => found.queues.push((name, row)),
                // One unreadable definition must not keep the runtime
                // down: its runs fall back to the default queue.
                Err(e) => tracing::error!(queue = %name, error = %e, "queue definition unreadable"),
            }
        }
        // Created empty on a file from before services.
        let services = txn.open_table(SERVICES)?;
        for entry in services.iter()? {
            let (name, bytes) = entry?;
            found
                .services
                .push((name.value().to_string(), bytes.value().to_vec()));
        }
        let halt = txn.open_table(HALT)?;
        found.halted = halt.get("reason")?.map(|v| v.value().to_string());
    }
    txn.commit()?;
    found.killed_groups = crate::process::stop_orphan_groups(&groups, limits.kill_grace);
    Ok(found)
}
