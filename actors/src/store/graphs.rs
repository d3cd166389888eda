//! Task graphs in the store: their records, how the writer applies their
//! changes and evicts finished ones, and what a start finds of them.
//!
//! # Tables
//! - `graphs`: a graph's definition ([`GraphRow`]: tasks, dependencies,
//!   priorities, claims, tags, metadata, limit, aging), written once, when
//!   the graph is accepted, keyed by the graph's store key (16 bytes, a
//!   UUIDv7: time ordered, so retention takes the oldest first).
//! - `graph_tasks`: one [`GraphTaskRow`] per task that got anywhere
//!   (started or ended), keyed by store key + task index (20 bytes), so a
//!   transition rewrites one small row, never the whole graph.
//! - `graphs_active`: the keys of graphs not finished: what a start looks
//!   at.
//! - `graph_extras`: per graph, its tasks' dependencies outside it
//!   (runs, tasks of other graphs by their store key) and their tasks' job
//!   options (labels, key, priority, queue), written with the definition
//!   when any task has any. A graph that grows (`GraphRun::add`)
//!   has its definition row (and this one) written again, whole, which
//!   also makes it active again.
//!
//! Only transitions to `Running` and to a terminal status are written:
//! `Pending` and `Ready` are what a restart recomputes from the
//! dependencies anyway. A task's run is an ordinary stored run (without
//! its task, so the launcher's resume never starts it on its own): its
//! captured output lives in the output table under the run's id, within
//! the output budget like every run's.
//!
//! # Recovery
//! For each unfinished graph, a task found `Running` is looked up in the
//! runs table *before* the runs are recovered:
//! - its run ended (the crash fell between the run's end and the graph's
//!   record of it): the task takes the run's outcome;
//! - its run was still `Queued` (its start was not durable, so nothing
//!   ran): the task goes back to waiting and starts again as a new run,
//!   once; the old run ends `Interrupted`, saying so;
//! - otherwise it stays `Running`, and the graph's adopter ends it
//!   `Interrupted` and skips its dependents.
//!
//! # Retention
//! Finished graphs past `history_limit` go oldest first with their task
//! rows, a bounded step per commit, as runs do (counted apart from runs).

use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::records::{self, DecodeFailure, ErrorRow, JobRow, OutcomeRow, OutputRow, RunRow};
use super::{OUTPUT, Op, StoreLimits};
use crate::priority::Priority;
use crate::run::{RunId, RunStatus};
use crate::task::Task;

/// Graph definitions by store key: [`GraphRow`]s.
pub(super) const GRAPHS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("graphs");
/// Task states by store key + index (big endian): [`GraphTaskRow`]s.
pub(super) const GRAPH_TASKS: TableDefinition<&[u8; 20], &[u8]> =
    TableDefinition::new("graph_tasks");
/// Store keys of the graphs not finished.
pub(super) const GRAPHS_ACTIVE: TableDefinition<&[u8; 16], ()> =
    TableDefinition::new("graphs_active");
/// What a graph's definition row does not carry, by store key:
/// [`GraphExtrasRow`]s. A table of its own, so the [`GraphRow`] format
/// (and every graph stored before) stays as it was.
pub(super) const GRAPH_EXTRAS: TableDefinition<&[u8; 16], &[u8]> =
    TableDefinition::new("graph_extras");

/// Most finished graphs retention removes per commit.
const RETENTION_STEP: usize = 64;

// The graph's vocabulary as stored. Mirrors of `graph::{TaskStatus,
// Priority, Resource}`, converted in `graph/durable.rs`, so the store does
// not import the graph engine (which sits above it). bincode writes an
// enum's variant index and a struct's fields in order: the order of
// variants and fields here IS the file format and must match what the
// graph types wrote before (`graph/tests.rs` checks the bytes).

/// A graph task's status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoredTaskStatus {
    Pending,
    Ready,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Interrupted,
    Skipped,
}

impl StoredTaskStatus {
    /// Whether the task is over.
    pub(crate) fn is_terminal(self) -> bool {
        !matches!(
            self,
            StoredTaskStatus::Pending | StoredTaskStatus::Ready | StoredTaskStatus::Running
        )
    }
}

impl From<RunStatus> for StoredTaskStatus {
    /// The status of a graph task whose run has `status`.
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued => StoredTaskStatus::Ready,
            RunStatus::Running => StoredTaskStatus::Running,
            RunStatus::Succeeded => StoredTaskStatus::Succeeded,
            RunStatus::Failed => StoredTaskStatus::Failed,
            RunStatus::Cancelled => StoredTaskStatus::Cancelled,
            RunStatus::TimedOut => StoredTaskStatus::TimedOut,
            RunStatus::Interrupted => StoredTaskStatus::Interrupted,
        }
    }
}

/// A graph task's priority, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoredPriority {
    Low,
    Normal,
    High,
    Critical,
}

// Here, beside the mirror, so the store can convert job options too
// (`records::JobRow`), not only the graph engine.
impl From<Priority> for StoredPriority {
    fn from(priority: Priority) -> Self {
        match priority {
            Priority::Low => StoredPriority::Low,
            Priority::Normal => StoredPriority::Normal,
            Priority::High => StoredPriority::High,
            Priority::Critical => StoredPriority::Critical,
        }
    }
}

impl From<StoredPriority> for Priority {
    fn from(priority: StoredPriority) -> Self {
        match priority {
            StoredPriority::Low => Priority::Low,
            StoredPriority::Normal => Priority::Normal,
            StoredPriority::High => Priority::High,
            StoredPriority::Critical => Priority::Critical,
        }
    }
}

/// A resource claim, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredResource {
    pub(crate) id: StoredResourceId,
    pub(crate) access: StoredAccess,
}

/// A resource's id, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredResourceId {
    pub(crate) kind: StoredResourceKind,
    pub(crate) name: String,
}

/// A resource's kind, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoredResourceKind {
    Lock,
    Cpu,
    Memory,
    Api,
}

/// How a claim holds its resource, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoredAccess {
    Read,
    Write,
    Exclusive,
    Units(u64),
}

/// A graph as accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphRow {
    pub(crate) name: Option<String>,
    pub(crate) limit: u64,
    pub(crate) aging: u32,
    /// Microseconds since the Unix epoch.
    pub(crate) submitted: u64,
    pub(crate) tasks: Vec<GraphTaskDef>,
}

/// One task of a [`GraphRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphTaskDef {
    pub(crate) name: String,
    /// Timeout, retries and backoff included.
    pub(crate) task: Task,
    /// Indices of the tasks it depends on.
    pub(crate) deps: Vec<u32>,
    pub(crate) priority: StoredPriority,
    pub(crate) resources: Vec<StoredResource>,
    pub(crate) tags: Vec<String>,
    /// JSON text (bincode cannot carry a `serde_json::Value`).
    pub(crate) metadata: String,
}

/// A dependency of a graph task outside its graph, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredExternal {
    /// A run, by id.
    Run(RunId),
    /// Task `index` of the graph stored under `graph`.
    Task { graph: [u8; 16], index: u32 },
}

/// What a [`GraphRow`] does not carry of its tasks, for each task that
/// has any: its dependencies outside the graph and its task's job options
/// (labels, key, priority, queue: a stored `Task` leaves them out, as a
/// run's row does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphExtrasRow {
    pub(crate) tasks: Vec<GraphTaskExtras>,
}

/// One task's part of a [`GraphExtrasRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphTaskExtras {
    /// The task's index.
    pub(crate) index: u32,
    pub(crate) externals: Vec<StoredExternal>,
    pub(crate) job: Option<JobRow>,
}

/// One task's state, once it started or ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphTaskRow {
    pub(crate) status: StoredTaskStatus,
    pub(crate) attempts: u32,
    pub(crate) run: Option<RunId>,
    /// Times in microseconds since the Unix epoch.
    pub(crate) started: Option<u64>,
    pub(crate) finished: Option<u64>,
    pub(crate) duration_us: Option<u64>,
    /// How its run ended (its captured bytes are the run's output row).
    pub(crate) outcome: Option<OutcomeRow>,
    pub(crate) exit_code: Option<i32>,
    /// Why it did not succeed: kind, message, and for a skip the index of
    /// the task it follows from.
    pub(crate) error: Option<(String, String, Option<u32>)>,
}

/// An unfinished graph found by a start (see the module docs).
#[derive(Debug, Clone)]
pub struct StoredGraph {
    /// Its store key.
    pub(crate) key: [u8; 16],
    pub(crate) row: GraphRow,
    /// By task index: the stored state (`None`: it never got anywhere),
    /// with its run's output.
    pub(crate) tasks: Vec<Option<(GraphTaskRow, Option<OutputRow>)>>,
    /// What its definition does not carry of its tasks (empty for a graph
    /// stored before there was any, or without any).
    pub(crate) extras: GraphExtrasRow,
}

impl StoredGraph {
    /// The graph's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.row.name.as_deref()
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.row.tasks.len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.row.tasks.is_empty()
    }
}

/// The first and last possible keys of graph `graph`'s task rows.
fn task_bounds(graph: &[u8; 16]) -> ([u8; 20], [u8; 20]) {
    (task_key(graph, 0), task_key(graph, u32::MAX))
}

fn task_key(graph: &[u8; 16], index: u32) -> [u8; 20] {
    let mut key = [0; 20];
    key[..16].copy_from_slice(graph);
    key[16..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Whether `op` is a graph change (applied by [`apply`]).
pub(super) fn is_graph_op(op: &Op) -> bool {
    matches!(
        op,
        Op::Graph { .. }
            | Op::GraphTask { .. }
            | Op::GraphFinished { .. }
            | Op::GraphReopened { .. }
            | Op::GraphExtras { .. }
    )
}

/// Apply the graph changes of one batch, in order, then one retention
/// step if a graph finished.
pub(super) fn apply(
    txn: &WriteTransaction,
    ops: &[Op],
    limits: StoreLimits,
) -> Result<(), redb::Error> {
    let mut graphs = txn.open_table(GRAPHS)?;
    let mut tasks = txn.open_table(GRAPH_TASKS)?;
    let mut active = txn.open_table(GRAPHS_ACTIVE)?;
    let mut extras = txn.open_table(GRAPH_EXTRAS)?;
    let mut finished_any = false;
    for op in ops {
        match op {
            Op::Graph { key, row } => {
                graphs.insert(key, records::encode(&**row).as_slice())?;
                active.insert(key, ())?;
            }
            Op::GraphTask { key, index, row } => {
                tasks.insert(&task_key(key, *index), records::encode(&**row).as_slice())?;
            }
            Op::GraphExtras { key, row } => {
                extras.insert(key, records::encode(&**row).as_slice())?;
            }
            Op::GraphFinished { key } => {
                active.remove(key)?;
                finished_any = true;
            }
            // Only a graph retention has not removed yet: a reopened graph
            // without its definition could not be adopted.
            Op::GraphReopened { key, reset } if graphs.get(key)?.is_some() => {
                active.insert(key, ())?;
                for &index in reset {
                    tasks.remove(&task_key(key, index))?;
                }
            }
            _ => {}
        }
    }
    if finished_any {
        retain(&mut graphs, &mut tasks, &active, &mut extras, limits)?;
    }
    Ok(())
}

/// Finished graphs past `history_limit`, oldest first (module docs).
fn retain(
    graphs: &mut Table<&[u8; 16], &[u8]>,
    tasks: &mut Table<&[u8; 20], &[u8]>,
    active: &Table<&[u8; 16], ()>,
    extras: &mut Table<&[u8; 16], &[u8]>,
    limits: StoreLimits,
) -> Result<(), redb::Error> {
    let finished = graphs.len()?.saturating_sub(active.len()?);
    let excess = finished.saturating_sub(limits.history_limit as u64);
    if excess == 0 {
        return Ok(());
    }
    let mut doomed = Vec::new();
    for entry in graphs.iter()? {
        if doomed.len() as u64 >= excess || doomed.len() >= RETENTION_STEP {
            break;
        }
        let key = *entry?.0.value();
        if active.get(&key)?.is_none() {
            doomed.push(key);
        }
    }
    for key in doomed {
        graphs.remove(&key)?;
        extras.remove(&key)?;
        let (first, last) = task_bounds(&key);
        let rows: Vec<[u8; 20]> = tasks
            .range::<&[u8; 20]>(&first..=&last)?
            .map(|entry| entry.map(|(k, _)| *k.value()))
            .collect::<Result<_, _>>()?;
        for row in rows {
            tasks.remove(&row)?;
        }
    }
    Ok(())
}

/// Why a graph could not be recovered.
pub(super) enum GraphRecovery {
    Store(redb::Error),
    Record(String, DecodeFailure),
}

impl<E: Into<redb::Error>> From<E> for GraphRecovery {
    fn from(e: E) -> Self {
        GraphRecovery::Store(e.into())
    }
}

/// The unfinished graphs, with their `Running` tasks settled against the
/// runs table as the module docs say. Runs before the runs' own recovery.
pub(super) fn recover(
    txn: &WriteTransaction,
    runs: &mut Table<&[u8; 16], &[u8]>,
    runs_active: &mut Table<&[u8; 16], ()>,
    now: u64,
) -> Result<Vec<StoredGraph>, GraphRecovery> {
    let graphs = txn.open_table(GRAPHS)?;
    let tasks = txn.open_table(GRAPH_TASKS)?;
    let active = txn.open_table(GRAPHS_ACTIVE)?;
    let outputs = txn.open_table(OUTPUT)?;
    let extras_table = txn.open_table(GRAPH_EXTRAS)?;
    let mut found = Vec::new();
    for entry in active.iter()? {
        let key = *entry?.0.value();
        let name = RunId::from_bytes(key).to_string();
        let Some(bytes) = graphs.get(&key)? else {
            continue;
        };
        let row: GraphRow =
            records::decode(bytes.value()).map_err(|e| GraphRecovery::Record(name.clone(), e))?;
        let mut states = vec![None; row.tasks.len()];
        let (first, last) = task_bounds(&key);
        for entry in tasks.range::<&[u8; 20]>(&first..=&last)? {
            let (k, v) = entry?;
            let index = u32::from_be_bytes(k.value()[16..].try_into().expect("4 bytes")) as usize;
            let mut task: GraphTaskRow =
                records::decode(v.value()).map_err(|e| GraphRecovery::Record(name.clone(), e))?;
            let Some(slot) = states.get_mut(index) else {
                continue;
            };
            if let (StoredTaskStatus::Running, Some(run)) = (task.status, task.run) {
                settle(&mut task, run, runs, runs_active, now)?;
            }
            let output = match task.run {
                Some(run) if task.status.is_terminal() => outputs
                    .get(run.as_bytes())?
                    .and_then(|v| OutputRow::decode(v.value()).ok()),
                _ => None,
            };
            *slot = Some((task, output));
        }
        let extras = match extras_table.get(&key)? {
            Some(bytes) => records::decode(bytes.value())
                .map_err(|e| GraphRecovery::Record(name.clone(), e))?,
            None => GraphExtrasRow::default(),
        };
        found.push(StoredGraph {
            key,
            row,
            tasks: states,
            extras,
        });
    }
    Ok(found)
}

/// The task that graph task run `run` ran: graph task runs are stored
/// without their task (only their graph may start them again), so a
/// reader outside the runtime finds it in the graph's definition. A scan
/// of the task rows: for occasional lookups (the CLI's `show`).
pub(super) fn task_of_run(db: &redb::Database, run: RunId) -> Result<Option<Task>, redb::Error> {
    let txn = db.begin_read()?;
    let tasks = txn.open_table(GRAPH_TASKS)?;
    for entry in tasks.iter()? {
        let (key, value) = entry?;
        let Ok(row) = records::decode::<GraphTaskRow>(value.value()) else {
            continue;
        };
        if row.run != Some(run) {
            continue;
        }
        let key = key.value();
        let graph: [u8; 16] = key[..16].try_into().expect("16 bytes");
        let index = u32::from_be_bytes(key[16..].try_into().expect("4 bytes")) as usize;
        let graphs = txn.open_table(GRAPHS)?;
        let Some(bytes) = graphs.get(&graph)? else {
            return Ok(None);
        };
        let Ok(definition) = records::decode::<GraphRow>(bytes.value()) else {
            return Ok(None);
        };
        return Ok(definition.tasks.into_iter().nth(index).map(|t| t.task));
    }
    Ok(None)
}

/// The stored status of task `index` of graph `key` (see
/// `Store::graph_task_status`).
pub(super) fn task_status(
    db: &redb::Database,
    key: [u8; 16],
    index: u32,
) -> Result<Option<StoredTaskStatus>, redb::Error> {
    let txn = db.begin_read()?;
    let tasks = match txn.open_table(GRAPH_TASKS) {
        Ok(tasks) => tasks,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(bytes) = tasks.get(&task_key(&key, index))? else {
        return Ok(None);
    };
    Ok(records::decode::<GraphTaskRow>(bytes.value())
        .ok()
        .map(|row| row.status))
}

/// A task found `Running`, against its run's row (module docs).
fn settle(
    task: &mut GraphTaskRow,
    run: RunId,
    runs: &mut Table<&[u8; 16], &[u8]>,
    runs_active: &mut Table<&[u8; 16], ()>,
    now: u64,
) -> Result<(), redb::Error> {
    let Some(bytes) = runs.get(run.as_bytes())?.map(|v| v.value().to_vec()) else {
        return Ok(());
    };
    let Ok(mut row) = records::decode::<RunRow>(&bytes) else {
        // The runs' recovery reports it.
        return Ok(());
    };
    match row.status {
        RunStatus::Queued => {
            row.status = RunStatus::Interrupted;
            row.finished = Some(now);
            row.outcome = Some(OutcomeRow::Error(ErrorRow::ActorFailed {
                actor: "runtime".into(),
                reason: "the application stopped before this graph task's run started; the \
                         task starts again as a new run"
                    .into(),
            }));
            runs.insert(run.as_bytes(), records::encode(&row).as_slice())?;
            runs_active.remove(run.as_bytes())?;
            *task = GraphTaskRow {
                status: StoredTaskStatus::Pending,
                attempts: 0,
                run: None,
                started: None,
                finished: None,
                duration_us: None,
                outcome: None,
                exit_code: None,
                error: None,
            };
        }
        RunStatus::Running => {}
        ended => {
            task.status = StoredTaskStatus::from(ended);
            task.attempts = task.attempts.max(row.attempts);
            task.finished = row.finished;
            task.exit_code = row.exit_code;
            task.duration_us = match (row.started, row.finished) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            task.outcome = row.outcome;
        }
    }
    Ok(())
}
