//! What a start finds in the PostgreSQL store: the same recovery as the
//! redb store's (`store/recover.rs` and `store/graphs.rs` say why each
//! step is what it is), in one transaction:
//! - unfinished graphs first, their `Running` tasks settled against their
//!   runs as the crash left them;
//! - runs found `Running` end `Interrupted` (their process groups, if
//!   still alive and ours, stopped); runs found `Queued` are handed back to
//!   be started once;
//! - schedules, queues and the halt are read back.

use std::time::SystemTime;

use tokio_postgres::{Client, Transaction};

use super::super::graphs::{GraphExtrasRow, GraphRow, GraphTaskRow, StoredGraph, StoredTaskStatus};
use super::super::records::{self, ErrorRow, JobRow, OutcomeRow, OutputRow, RunRow};
use super::super::{Recovered, ResumedRun, StoreLimits};
use crate::run::{RunId, RunStatus};

/// Why recovery failed.
#[derive(Debug)]
pub(super) enum Failure {
    Db(tokio_postgres::Error),
    Record(String, records::DecodeFailure),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Db(e) => write!(f, "{e}"),
            Failure::Record(what, e) => {
                write!(f, "{what} is unreadable ({e}); it was left as it is")
            }
        }
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

fn id_of(bytes: &[u8]) -> Option<RunId> {
    <[u8; 16]>::try_from(bytes).ok().map(RunId::from_bytes)
}

/// Recover the store (module docs).
pub(super) async fn recover(
    client: &mut Client,
    limits: StoreLimits,
) -> Result<Recovered, Failure> {
    let mut found = Recovered::default();
    let mut groups = Vec::new();
    let txn = client.transaction().await?;
    let now = records::micros(SystemTime::now());
    found.graphs = graphs(&txn, now).await?;
    let active = txn
        .query(
            "SELECT r.id, r.row, j.row FROM taskorch_runs r
             LEFT JOIN taskorch_jobs j ON j.id = r.id
             WHERE r.active ORDER BY r.id",
            &[],
        )
        .await?;
    for entry in active {
        let key: Vec<u8> = entry.get(0);
        let Some(id) = id_of(&key) else {
            continue;
        };
        let bytes: Vec<u8> = entry.get(1);
        let mut row: RunRow =
            records::decode(&bytes).map_err(|e| Failure::Record(format!("run {id}"), e))?;
        match (row.status, row.task.take()) {
            (RunStatus::Queued, Some(task)) => {
                let job = match entry.get::<_, Option<Vec<u8>>>(2) {
                    Some(bytes) => Some(
                        JobRow::decode(&bytes)
                            .map_err(|e| Failure::Record(format!("run {id}"), e))?,
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
            }
            (status, task) => {
                row.task = task;
                if let Some(pid) = row.pid.take() {
                    groups.push((pid, id));
                }
                let error = if status == RunStatus::Queued {
                    ErrorRow::ActorFailed {
                        actor: "runtime".into(),
                        reason: "the run was accepted without a task to start it again with".into(),
                    }
                } else {
                    super::super::recover::crash_error()
                };
                row.status = RunStatus::Interrupted;
                row.finished = Some(now);
                row.outcome = Some(OutcomeRow::Error(error));
                txn.execute(
                    "UPDATE taskorch_runs SET row = $2, active = false WHERE id = $1",
                    &[&key, &records::encode(&row)],
                )
                .await?;
                found.interrupted.push(id);
            }
        }
    }
    for entry in txn
        .query(
            "SELECT name, row FROM taskorch_schedules ORDER BY name",
            &[],
        )
        .await?
    {
        let name: String = entry.get(0);
        let bytes: Vec<u8> = entry.get(1);
        let row =
            records::decode(&bytes).map_err(|e| Failure::Record(format!("schedule {name}"), e))?;
        found.schedules.push((name, row));
    }
    for entry in txn
        .query("SELECT name, row FROM taskorch_queues ORDER BY name", &[])
        .await?
    {
        let name: String = entry.get(0);
        let bytes: Vec<u8> = entry.get(1);
        match records::decode(&bytes) {
            Ok(row) => found.queues.push((name, row)),
            // As for redb: its runs fall back to the default queue.
            Err(e) => tracing::error!(queue = %name, error = %e, "queue definition unreadable"),
        }
    }
    for entry in txn
        .query(
            "SELECT name, record FROM taskorch_services ORDER BY name",
            &[],
        )
        .await?
    {
        found.services.push((entry.get(0), entry.get(1)));
    }
    found.halted = txn
        .query_opt("SELECT reason FROM taskorch_halt", &[])
        .await?
        .map(|r| r.get(0));
    txn.commit().await?;
    found.killed_groups = crate::process::stop_orphan_groups(&groups, limits.kill_grace);
    Ok(found)
}

/// The unfinished graphs, their `Running` tasks settled.
async fn graphs(txn: &Transaction<'_>, now: u64) -> Result<Vec<StoredGraph>, Failure> {
    let mut found = Vec::new();
    for entry in txn
        .query(
            "SELECT key, row FROM taskorch_graphs WHERE active ORDER BY key",
            &[],
        )
        .await?
    {
        let key: Vec<u8> = entry.get(0);
        let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) else {
            continue;
        };
        let name = RunId::from_bytes(key).to_string();
        let bytes: Vec<u8> = entry.get(1);
        let row: GraphRow =
            records::decode(&bytes).map_err(|e| Failure::Record(format!("graph {name}"), e))?;
        let mut states = vec![None; row.tasks.len()];
        for task_entry in txn
            .query(
                "SELECT index, row FROM taskorch_graph_tasks WHERE key = $1 ORDER BY index",
                &[&key.as_slice()],
            )
            .await?
        {
            let index = task_entry.get::<_, i32>(0) as usize;
            let bytes: Vec<u8> = task_entry.get(1);
            let mut task: GraphTaskRow =
                records::decode(&bytes).map_err(|e| Failure::Record(format!("graph {name}"), e))?;
            let Some(slot) = states.get_mut(index) else {
                continue;
            };
            if let (StoredTaskStatus::Running, Some(run)) = (task.status, task.run) {
                settle(txn, &mut task, run, now).await?;
            }
            let output = match task.run {
                Some(run) if task.status.is_terminal() => txn
                    .query_opt(
                        "SELECT row FROM taskorch_output WHERE id = $1",
                        &[&run.as_bytes().as_slice()],
                    )
                    .await?
                    .and_then(|r| OutputRow::decode(&r.get::<_, Vec<u8>>(0)).ok()),
                _ => None,
            };
            *slot = Some((task, output));
        }
        let extras = match txn
            .query_opt(
                "SELECT row FROM taskorch_graph_extras WHERE key = $1",
                &[&key.as_slice()],
            )
            .await?
        {
            Some(r) => records::decode(&r.get::<_, Vec<u8>>(0))
                .map_err(|e| Failure::Record(format!("graph {name}"), e))?,
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

/// A task found `Running`, against its run's record (as `graphs::settle`
/// does for redb).
async fn settle(
    txn: &Transaction<'_>,
    task: &mut GraphTaskRow,
    run: RunId,
    now: u64,
) -> Result<(), Failure> {
    let Some(entry) = txn
        .query_opt(
            "SELECT row FROM taskorch_runs WHERE id = $1",
            &[&run.as_bytes().as_slice()],
        )
        .await?
    else {
        return Ok(());
    };
    let Ok(mut row) = records::decode::<RunRow>(&entry.get::<_, Vec<u8>>(0)) else {
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
            txn.execute(
                "UPDATE taskorch_runs SET row = $2, active = false WHERE id = $1",
                &[&run.as_bytes().as_slice(), &records::encode(&row)],
            )
            .await?;
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
