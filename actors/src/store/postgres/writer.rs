//! The PostgreSQL store's one writer: a thread that applies whatever has
//! queued up in one transaction (group commit, as the redb writer does)
//! and answers the batch's `Sync`s after the commit.
//!
//! A run's changes are deltas (started, pid, finished) applied to its
//! record: within a batch the record is read at most once and written
//! once. Retention runs in the same transaction, a bounded step at a time,
//! and only in batches that finished something: finished runs past
//! `history_limit` go oldest first with their options, labels and output;
//! output past `output_budget` goes oldest first; finished graphs past
//! `history_limit` go with their task rows.
//!
//! When the connection fails (the server restarted, the network dropped)
//! the batch stays pending, work that needs a commit is refused with
//! `Error::StoreUnavailable`, and the writer reconnects (and takes the
//! store's lock again) with backoff, then commits what is pending in
//! order. Every change is idempotent (upserts, deltas that set values), so
//! a batch whose commit was cut off after the server applied it is
//! applied again harmlessly.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Transaction};

use super::super::records::{self, RunRow};
use super::super::{Op, StoreLimits};
use super::Runtime;
use crate::error::{Error, Result};
use crate::metrics::LatencyWindow;
use crate::run::{RunId, RunStatus};

/// Most changes in one transaction.
const MAX_BATCH: usize = 4096;

/// Most runs (and graphs) retention deletes per commit.
const RETENTION_STEP: i64 = 512;
const GRAPH_RETENTION_STEP: i64 = 64;

/// Backoff between reconnection attempts: from the first to the longest.
const FIRST_RETRY: Duration = Duration::from_millis(20);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Most changes kept while the database is unreachable.
const MAX_PENDING: usize = 1 << 16;

pub(super) struct Writer {
    /// `None` while the database is unreachable.
    client: Option<Client>,
    config: tokio_postgres::Config,
    runtime: Runtime,
    /// The URL without its password.
    shown: String,
    limits: StoreLimits,
    pending: Vec<Op>,
    down: Option<Down>,
    commits: Arc<LatencyWindow>,
}

struct Down {
    reason: String,
    retry_in: Duration,
    next: Instant,
}

impl Writer {
    pub(super) fn new(
        client: Client,
        config: tokio_postgres::Config,
        runtime: Runtime,
        shown: String,
        limits: StoreLimits,
        commits: Arc<LatencyWindow>,
    ) -> Self {
        Writer {
            client: Some(client),
            config,
            runtime,
            shown,
            limits,
            pending: Vec::new(),
            down: None,
            commits,
        }
    }

    /// Serve `ops` until `Close` (or every sender is gone).
    pub(super) fn run(mut self, ops: Receiver<Op>) {
        let mut closing: Option<std::sync::mpsc::Sender<()>> = None;
        while closing.is_none() {
            let mut batch = Vec::new();
            let first = match &self.down {
                None => ops.recv().ok(),
                Some(down) => {
                    match ops.recv_timeout(down.next.saturating_duration_since(Instant::now())) {
                        Ok(op) => Some(op),
                        Err(RecvTimeoutError::Timeout) => {
                            // Time to try again: an empty batch does.
                            None
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match first {
                Some(op) => batch.push(op),
                None if self.down.is_none() => break,
                None => {}
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
                store = %self.shown,
                changes = self.pending.len(),
                "the store stopped with changes it could not write"
            );
        }
        // The session (and the store's advisory lock with it) ends here.
        drop(self.client.take());
        if let Some(tx) = closing {
            let _ = tx.send(());
        }
    }

    /// Commit what is pending, reconnecting first if the database was
    /// unreachable and it is time (or the store is closing).
    fn step(&mut self, closing: bool) -> Result<()> {
        if let Some(down) = &self.down
            && !closing
            && Instant::now() < down.next
        {
            self.bound_pending();
            return Err(self.unavailable());
        }
        if self.client.as_ref().is_none_or(Client::is_closed)
            && let Err(reason) = self.reconnect()
        {
            self.went_down(reason);
            return Err(self.unavailable());
        }
        if self.pending.is_empty() {
            self.up();
            return Ok(());
        }
        match self.commit() {
            Ok(()) => {
                self.up();
                Ok(())
            }
            Err(Failure::Connection(reason)) => {
                tracing::warn!(store = %self.shown, error = %reason, "store write failed; reconnecting");
                self.client = None;
                // At once: one dropped connection costs no one a refusal.
                match self
                    .reconnect()
                    .map_err(Failure::Connection)
                    .and_then(|()| self.commit())
                {
                    Ok(()) => {
                        self.up();
                        Ok(())
                    }
                    Err(Failure::Connection(reason) | Failure::Rejected(reason)) => {
                        self.went_down(reason);
                        Err(self.unavailable())
                    }
                }
            }
            Err(Failure::Rejected(reason)) => {
                // The server refused the statements themselves: the same
                // changes would fail again. Dropped, logged, reported.
                tracing::error!(store = %self.shown, error = %reason, changes = self.pending.len(), "store commit failed; its changes are not stored");
                self.pending.clear();
                Err(Error::Store {
                    path: self.shown.clone().into(),
                    reason: format!("write failed: {reason}"),
                })
            }
        }
    }

    fn up(&mut self) {
        if self.down.take().is_some() {
            tracing::info!(store = %self.shown, "store writes work again");
        }
    }

    fn went_down(&mut self, reason: String) {
        let down = self.down.get_or_insert(Down {
            reason: String::new(),
            retry_in: FIRST_RETRY,
            next: Instant::now(),
        });
        down.reason = reason;
        down.next = Instant::now() + down.retry_in;
        down.retry_in = (down.retry_in * 2).min(MAX_RETRY);
        self.bound_pending();
    }

    /// A new connection, holding the store's lock again.
    fn reconnect(&mut self) -> Result<(), String> {
        self.client = None;
        let (config, shown) = (self.config.clone(), self.shown.clone());
        let client = self
            .runtime
            .block(async move {
                let client = super::connect(&config, &shown).await?;
                super::lock(&client, &shown).await?;
                Ok::<_, Error>(client)
            })
            .unwrap_or_else(|| Err(super::closed(&self.shown)))
            .map_err(|e| e.to_string())?;
        self.client = Some(client);
        Ok(())
    }

    fn bound_pending(&mut self) {
        if self.pending.len() > MAX_PENDING {
            let lost = self.pending.len() - MAX_PENDING;
            tracing::error!(store = %self.shown, lost, "store unavailable for long: oldest changes not stored");
            self.pending.drain(..lost);
        }
    }

    fn unavailable(&self) -> Error {
        let reason = self.down.as_ref().map_or("", |d| d.reason.as_str());
        Error::StoreUnavailable {
            path: self.shown.clone().into(),
            reason: format!(
                "the database cannot be written ({reason}); the store reconnects and refuses work \
                 that needs a commit until one succeeds (what was acknowledged before is kept)"
            ),
        }
    }

    /// Apply the pending changes in one transaction; they stay pending
    /// if it fails.
    fn commit(&mut self) -> Result<(), Failure> {
        let Some(client) = self.client.take() else {
            return Err(Failure::Connection("not connected".into()));
        };
        let changes = std::mem::take(&mut self.pending);
        let limits = self.limits;
        let began = Instant::now();
        let answer = self.runtime.block(async move {
            let mut client = client;
            let result = apply(&mut client, &changes, limits).await;
            (client, changes, result)
        });
        let Some((client, changes, result)) = answer else {
            return Err(Failure::Connection("the store's runtime is gone".into()));
        };
        self.client = Some(client);
        match result {
            Ok(()) => {
                self.commits.record(crate::metrics::nanos(began.elapsed()));
                Ok(())
            }
            Err(e) => {
                self.pending = changes;
                if super::lost_connection(&e) || self.client.as_ref().is_some_and(Client::is_closed)
                {
                    Err(Failure::Connection(e.to_string()))
                } else {
                    Err(Failure::Rejected(e.to_string()))
                }
            }
        }
    }
}

/// Why a commit failed.
enum Failure {
    /// The connection (or the server) went away: reconnect and try the
    /// same changes again.
    Connection(String),
    /// The server refused the statements.
    Rejected(String),
}

/// A run's record as this batch has it, and whether it is active.
type Rows = HashMap<RunId, Option<(RunRow, bool)>>;

/// Apply `changes` in one transaction (module docs).
async fn apply(
    client: &mut Client,
    changes: &[Op],
    limits: StoreLimits,
) -> Result<(), tokio_postgres::Error> {
    let txn = client.transaction().await?;
    let mut rows: Rows = HashMap::new();
    let (mut finished_run, mut stored_output, mut finished_graph) = (false, false, false);
    for op in changes {
        match op {
            Op::Queued { id, row, job } => {
                rows.insert(*id, Some(((**row).clone(), true)));
                if let Some(job) = job {
                    txn.execute(
                        "INSERT INTO taskorch_jobs (id, row) VALUES ($1, $2)
                         ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row",
                        &[&id.as_bytes().as_slice(), &job.encode()],
                    )
                    .await?;
                    for (k, v) in &job.labels {
                        txn.execute(
                            "INSERT INTO taskorch_labels (label, id) VALUES ($1, $2)
                             ON CONFLICT DO NOTHING",
                            &[&format!("{k}={v}"), &id.as_bytes().as_slice()],
                        )
                        .await?;
                    }
                }
            }
            Op::Started { id, at } => {
                if let Some((row, _)) = row_mut(&txn, &mut rows, *id).await? {
                    row.status = RunStatus::Running;
                    row.started = Some(*at);
                }
            }
            Op::Pid { id, pid, attempt } => {
                if let Some((row, _)) = row_mut(&txn, &mut rows, *id).await? {
                    row.pid = Some(*pid);
                    row.attempts = row.attempts.max(*attempt);
                }
            }
            Op::Finished { id, end } => {
                finished_run = true;
                if let Some((row, active)) = row_mut(&txn, &mut rows, *id).await? {
                    row.status = end.status;
                    row.finished = Some(end.at);
                    row.exit_code = end.exit_code;
                    row.attempts = row.attempts.max(end.attempts);
                    row.pid = None;
                    row.outcome = Some(end.outcome.clone());
                    *active = false;
                }
                if let Some(output) = &end.output {
                    let bytes = output.encode();
                    // Output that alone exceeds the budget would only push
                    // out every other run's (as in the redb store).
                    if bytes.len() as u64 <= limits.output_budget as u64 {
                        stored_output = true;
                        txn.execute(
                            "INSERT INTO taskorch_output (id, row, bytes) VALUES ($1, $2, $3)
                             ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row,
                                                            bytes = EXCLUDED.bytes",
                            &[&id.as_bytes().as_slice(), &bytes, &(bytes.len() as i64)],
                        )
                        .await?;
                    }
                }
            }
            Op::Schedule { name, row } => {
                txn.execute(
                    "INSERT INTO taskorch_schedules (name, row) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET row = EXCLUDED.row",
                    &[name, &records::encode(row.as_ref())],
                )
                .await?;
            }
            Op::ScheduleRemoved { name } => {
                txn.execute("DELETE FROM taskorch_schedules WHERE name = $1", &[name])
                    .await?;
            }
            Op::Halt { reason } => match reason {
                Some(reason) => {
                    txn.execute(
                        "INSERT INTO taskorch_halt (one, reason) VALUES (true, $1)
                         ON CONFLICT (one) DO UPDATE SET reason = EXCLUDED.reason",
                        &[reason],
                    )
                    .await?;
                }
                None => {
                    txn.execute("DELETE FROM taskorch_halt", &[]).await?;
                }
            },
            Op::Queue { name, row } => {
                txn.execute(
                    "INSERT INTO taskorch_queues (name, row) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET row = EXCLUDED.row",
                    &[name, &records::encode(row)],
                )
                .await?;
            }
            Op::Graph { key, row } => {
                txn.execute(
                    "INSERT INTO taskorch_graphs (key, row, active) VALUES ($1, $2, true)
                     ON CONFLICT (key) DO UPDATE SET row = EXCLUDED.row, active = true",
                    &[&key.as_slice(), &records::encode(&**row)],
                )
                .await?;
            }
            Op::GraphTask { key, index, row } => {
                let run = row.run.map(|r| r.as_bytes().to_vec());
                txn.execute(
                    "INSERT INTO taskorch_graph_tasks (key, index, row, run) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (key, index) DO UPDATE SET row = EXCLUDED.row, run = EXCLUDED.run",
                    &[&key.as_slice(), &(*index as i32), &records::encode(&**row), &run],
                )
                .await?;
            }
            Op::GraphFinished { key } => {
                finished_graph = true;
                txn.execute(
                    "UPDATE taskorch_graphs SET active = false WHERE key = $1",
                    &[&key.as_slice()],
                )
                .await?;
            }
            Op::GraphReopened { key, reset } => {
                // Only a graph retention has not removed yet.
                let n = txn
                    .execute(
                        "UPDATE taskorch_graphs SET active = true WHERE key = $1",
                        &[&key.as_slice()],
                    )
                    .await?;
                if n > 0 {
                    let reset: Vec<i32> = reset.iter().map(|&i| i as i32).collect();
                    txn.execute(
                        "DELETE FROM taskorch_graph_tasks WHERE key = $1 AND index = ANY($2)",
                        &[&key.as_slice(), &reset],
                    )
                    .await?;
                }
            }
            Op::GraphExtras { key, row } => {
                txn.execute(
                    "INSERT INTO taskorch_graph_extras (key, row) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET row = EXCLUDED.row",
                    &[&key.as_slice(), &records::encode(&**row)],
                )
                .await?;
            }
            Op::Service { name, record } => match record {
                Some(bytes) => {
                    txn.execute(
                        "INSERT INTO taskorch_services (name, record) VALUES ($1, $2)
                         ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                        &[name, bytes],
                    )
                    .await?;
                }
                None => {
                    txn.execute("DELETE FROM taskorch_services WHERE name = $1", &[name])
                        .await?;
                }
            },
            Op::Sync(_) | Op::SyncBlocking(_) | Op::Close(_) => {}
        }
    }
    for (id, entry) in &rows {
        if let Some((row, active)) = entry {
            txn.execute(
                "INSERT INTO taskorch_runs (id, row, active) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row, active = EXCLUDED.active",
                &[&id.as_bytes().as_slice(), &records::encode(row), active],
            )
            .await?;
        }
    }
    if finished_run {
        retain_runs(&txn, limits).await?;
    }
    if stored_output || finished_run {
        retain_output(&txn, limits).await?;
    }
    if finished_graph {
        txn.execute(
            "WITH doomed AS (
                 DELETE FROM taskorch_graphs WHERE key IN (
                     SELECT key FROM taskorch_graphs WHERE NOT active
                     ORDER BY key DESC OFFSET $1 LIMIT $2)
                 RETURNING key),
             extras AS (DELETE FROM taskorch_graph_extras WHERE key IN (SELECT key FROM doomed))
             DELETE FROM taskorch_graph_tasks WHERE key IN (SELECT key FROM doomed)",
            &[&(limits.history_limit as i64), &GRAPH_RETENTION_STEP],
        )
        .await?;
    }
    txn.commit().await
}

/// The record of run `id` as this batch has it: from the batch, else from
/// the table. `None` if the run is not stored.
async fn row_mut<'a>(
    txn: &Transaction<'_>,
    rows: &'a mut Rows,
    id: RunId,
) -> Result<Option<&'a mut (RunRow, bool)>, tokio_postgres::Error> {
    if let Entry::Vacant(slot) = rows.entry(id) {
        let found = txn
            .query_opt(
                "SELECT row, active FROM taskorch_runs WHERE id = $1",
                &[&id.as_bytes().as_slice()],
            )
            .await?;
        let entry = found.and_then(|r| {
            let bytes: Vec<u8> = r.get(0);
            match records::decode::<RunRow>(&bytes) {
                Ok(row) => Some((row, r.get::<_, bool>(1))),
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "unreadable stored run left as it is");
                    None
                }
            }
        });
        slot.insert(entry);
    }
    Ok(rows.get_mut(&id).and_then(Option::as_mut))
}

/// Finished runs past `history_limit`, with their job options, labels and
/// output: one bounded step.
async fn retain_runs(
    txn: &Transaction<'_>,
    limits: StoreLimits,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "WITH doomed AS (
             DELETE FROM taskorch_runs WHERE id IN (
                 SELECT id FROM taskorch_runs WHERE NOT active
                 ORDER BY id DESC OFFSET $1 LIMIT $2)
             RETURNING id),
         jobs AS (DELETE FROM taskorch_jobs WHERE id IN (SELECT id FROM doomed)),
         labels AS (DELETE FROM taskorch_labels WHERE id IN (SELECT id FROM doomed))
         DELETE FROM taskorch_output WHERE id IN (SELECT id FROM doomed)",
        &[&(limits.history_limit as i64), &RETENTION_STEP],
    )
    .await?;
    Ok(())
}

/// Output past `output_budget`, oldest first: what keeps the newest
/// outputs whose sizes add up to at most the budget.
async fn retain_output(
    txn: &Transaction<'_>,
    limits: StoreLimits,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "DELETE FROM taskorch_output WHERE id IN (
             SELECT id FROM (
                 SELECT id, sum(bytes) OVER (ORDER BY id DESC) AS newer FROM taskorch_output
             ) t WHERE newer > $1::bigint)",
        &[&(limits.output_budget as i64)],
    )
    .await?;
    Ok(())
}
