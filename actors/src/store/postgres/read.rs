//! Reads of the PostgreSQL store: a run, its output and options, the
//! keyed runs, the task of a graph task's run, and history queries.
//!
//! A history query reads the runs newest first in pages of [`PAGE`] by id
//! (UUID v7: acceptance order), within the query's time window and, for a
//! label query, among the runs carrying its first label; name and status
//! are compared on each decoded record, and the rest of the query on the
//! run's info, exactly as the redb store's scan does, stopping after
//! `most_recent` matches.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

use super::super::graphs::{GraphRow, GraphTaskRow, StoredTaskStatus};
use super::super::records::{self, JobRow, OutputRow, RunRow};
use crate::run::{RunId, RunInfo, RunQuery};
use crate::task::Task;

type DbResult<T> = Result<T, tokio_postgres::Error>;

/// Runs read per round trip by a history query.
const PAGE: i64 = 256;

fn key(id: RunId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

fn id_of(bytes: &[u8]) -> Option<RunId> {
    <[u8; 16]>::try_from(bytes).ok().map(RunId::from_bytes)
}

fn decoded<T: serde::de::DeserializeOwned>(id: RunId, bytes: &[u8]) -> Option<T> {
    records::decode(bytes)
        .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored record"))
        .ok()
}

fn job_of(id: RunId, bytes: Option<Vec<u8>>) -> Option<JobRow> {
    JobRow::decode(&bytes?)
        .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored job options"))
        .ok()
}

pub(super) async fn run(client: Arc<Client>, id: RunId) -> DbResult<Option<RunRow>> {
    let row = client
        .query_opt("SELECT row FROM taskorch_runs WHERE id = $1", &[&key(id)])
        .await?;
    Ok(row.and_then(|r| decoded(id, &r.get::<_, Vec<u8>>(0))))
}

pub(super) async fn run_with_output(
    client: Arc<Client>,
    id: RunId,
) -> DbResult<Option<(RunRow, Option<OutputRow>)>> {
    let Some(found) = client
        .query_opt(
            "SELECT r.row, o.row FROM taskorch_runs r
             LEFT JOIN taskorch_output o ON o.id = r.id WHERE r.id = $1",
            &[&key(id)],
        )
        .await?
    else {
        return Ok(None);
    };
    let Some(row) = decoded::<RunRow>(id, &found.get::<_, Vec<u8>>(0)) else {
        return Ok(None);
    };
    let output = found.get::<_, Option<Vec<u8>>>(1).and_then(|bytes| {
        OutputRow::decode(&bytes)
            .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored output"))
            .ok()
    });
    Ok(Some((row, output)))
}

pub(super) async fn job(client: Arc<Client>, id: RunId) -> DbResult<Option<JobRow>> {
    let row = client
        .query_opt("SELECT row FROM taskorch_jobs WHERE id = $1", &[&key(id)])
        .await?;
    Ok(job_of(id, row.map(|r| r.get(0))))
}

/// The task graph task run `run` ran, from its graph's definition.
pub(super) async fn task_of_run(client: Arc<Client>, run: RunId) -> DbResult<Option<Task>> {
    let found = client
        .query_opt(
            "SELECT t.index, t.row, g.row FROM taskorch_graph_tasks t
             JOIN taskorch_graphs g ON g.key = t.key WHERE t.run = $1 LIMIT 1",
            &[&key(run)],
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    // The task row names the run: a stale index (none is) answers nothing.
    let Ok(task) = records::decode::<GraphTaskRow>(&found.get::<_, Vec<u8>>(1)) else {
        return Ok(None);
    };
    if task.run != Some(run) {
        return Ok(None);
    }
    let index = found.get::<_, i32>(0) as usize;
    let Ok(graph) = records::decode::<GraphRow>(&found.get::<_, Vec<u8>>(2)) else {
        return Ok(None);
    };
    Ok(graph.tasks.into_iter().nth(index).map(|t| t.task))
}

/// The keyed runs that are live or finished at or after `since`.
pub(super) async fn keyed_since(
    client: Arc<Client>,
    since: SystemTime,
) -> DbResult<Vec<(String, RunId, Option<SystemTime>)>> {
    let since = records::micros(since);
    let rows = client
        .query(
            "SELECT j.id, j.row, r.row FROM taskorch_jobs j
             JOIN taskorch_runs r ON r.id = j.id",
            &[],
        )
        .await?;
    let mut keyed = Vec::new();
    for found in rows {
        let Some(id) = id_of(&found.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        let Ok(job) = JobRow::decode(&found.get::<_, Vec<u8>>(1)) else {
            continue;
        };
        let Some(key) = job.key else {
            continue;
        };
        let Ok(row) = records::decode::<RunRow>(&found.get::<_, Vec<u8>>(2)) else {
            continue;
        };
        if !row.status.is_terminal() {
            keyed.push((key, id, None));
        } else if let Some(finished) = row.finished.filter(|&f| f >= since) {
            keyed.push((key, id, Some(records::time(finished))));
        }
    }
    Ok(keyed)
}

/// The smallest (`fill` 0) or largest (`fill` 0xff) run id accepted in
/// the millisecond of `t` (as `history::key_at`).
fn key_at(t: SystemTime, fill: u8) -> Vec<u8> {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .min((1 << 48) - 1);
    let mut key = vec![fill; 16];
    key[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    key
}

/// The runs `query` matches, newest first (module docs).
pub(super) async fn history(client: Arc<Client>, query: RunQuery) -> DbResult<Vec<RunInfo>> {
    let limit = query.most_recent.unwrap_or(usize::MAX);
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    let low = query.since.map_or(vec![0; 16], |t| key_at(t, 0));
    // Exclusive upper bound of the next page: just past the window.
    let mut below = query.until.map_or(vec![0xff; 17], |t| {
        let mut k = key_at(t, 0xff);
        k.push(0xff);
        k
    });
    let label = query.labels().first().map(|(k, v)| format!("{k}={v}"));
    loop {
        let page = match &label {
            None => {
                client
                    .query(
                        "SELECT r.id, r.row, j.row FROM taskorch_runs r
                         LEFT JOIN taskorch_jobs j ON j.id = r.id
                         WHERE r.id >= $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3",
                        &[&low, &below, &PAGE],
                    )
                    .await?
            }
            Some(label) => {
                client
                    .query(
                        "SELECT r.id, r.row, j.row FROM taskorch_labels l
                         JOIN taskorch_runs r ON r.id = l.id
                         LEFT JOIN taskorch_jobs j ON j.id = r.id
                         WHERE l.label = $4 AND l.id >= $1 AND l.id < $2
                         ORDER BY l.id DESC LIMIT $3",
                        &[&low, &below, &PAGE, label],
                    )
                    .await?
            }
        };
        let n = page.len();
        for entry in page {
            let raw: Vec<u8> = entry.get(0);
            let Some(id) = id_of(&raw) else {
                continue;
            };
            below = raw;
            let Some(row) = decoded::<RunRow>(id, &entry.get::<_, Vec<u8>>(1)) else {
                continue;
            };
            if query.name.as_deref().is_some_and(|n| n != row.name)
                || !query.matches_status(row.status)
            {
                continue;
            }
            let mut info = row.info(id);
            if let Some(job) = job_of(id, entry.get(2)) {
                job.fill(&mut info);
            }
            if query.matches(&info) {
                found.push(info);
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        if (n as i64) < PAGE {
            return Ok(found);
        }
    }
}

/// The stored status of task `index` of graph `key`.
pub(super) async fn graph_task_status(
    client: Arc<Client>,
    key: [u8; 16],
    index: u32,
) -> DbResult<Option<StoredTaskStatus>> {
    let row = client
        .query_opt(
            "SELECT row FROM taskorch_graph_tasks WHERE key = $1 AND index = $2",
            &[&key.as_slice(), &(index as i32)],
        )
        .await?;
    Ok(row.and_then(|r| {
        records::decode::<GraphTaskRow>(&r.get::<_, Vec<u8>>(0))
            .ok()
            .map(|t| t.status)
    }))
}
