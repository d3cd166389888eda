//! Versioned schema migrations of the PostgreSQL store.
//!
//! The database's version is the `schema` row of `taskorch_meta` (absent:
//! an empty database, version 0). At start, under a transaction-scoped
//! advisory lock (so nodes starting together migrate once), every
//! migration past that version is applied in order, in the same
//! transaction as the version's update: a start that fails half-way
//! leaves the database as it was. A version past [`SCHEMA`] is refused
//! with `Error::StoreSchemaTooNew` and nothing is changed.
//!
//! A migration is never edited once released: a change is a new one.

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// The newest schema version this release knows.
pub(crate) const SCHEMA: u64 = MIGRATIONS.len() as u64;

/// Advisory lock key taken while migrating ("taskorch" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x7461_736b_6f72_6301;

/// Advisory lock key the store holds for its orchestrator's life.
pub(super) const STORE_LOCK: i64 = 0x7461_736b_6f72_6302;

/// Migration `n` (1-based) takes the database from version `n - 1` to `n`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs, their job options, labels and output; schedules, queues,
    // the halt.
    "CREATE TABLE taskorch_meta (key text PRIMARY KEY, value bigint NOT NULL);
     CREATE TABLE taskorch_runs (id bytea PRIMARY KEY, row bytea NOT NULL,
                                 active boolean NOT NULL);
     CREATE INDEX taskorch_runs_active ON taskorch_runs (id) WHERE active;
     CREATE INDEX taskorch_runs_finished ON taskorch_runs (id) WHERE NOT active;
     CREATE TABLE taskorch_jobs (id bytea PRIMARY KEY, row bytea NOT NULL);
     CREATE TABLE taskorch_labels (label text NOT NULL, id bytea NOT NULL,
                                   PRIMARY KEY (label, id));
     CREATE INDEX taskorch_labels_id ON taskorch_labels (id);
     CREATE TABLE taskorch_output (id bytea PRIMARY KEY, row bytea NOT NULL,
                                   bytes bigint NOT NULL);
     CREATE TABLE taskorch_schedules (name text PRIMARY KEY, row bytea NOT NULL);
     CREATE TABLE taskorch_queues (name text PRIMARY KEY, row bytea NOT NULL);
     CREATE TABLE taskorch_halt (one boolean PRIMARY KEY CHECK (one), reason text NOT NULL);",
    // 2: task graphs: definitions, and one row per task that got anywhere
    // (its run indexed, for `show` of a graph task's run).
    "CREATE TABLE taskorch_graphs (key bytea PRIMARY KEY, row bytea NOT NULL,
                                   active boolean NOT NULL);
     CREATE TABLE taskorch_graph_tasks (key bytea NOT NULL, index integer NOT NULL,
                                        row bytea NOT NULL, run bytea,
                                        PRIMARY KEY (key, index));
     CREATE INDEX taskorch_graph_tasks_run ON taskorch_graph_tasks (run);",
    // 3: node identity and liveness: one row per orchestrator start, its
    // heartbeat written with the database's clock.
    "CREATE TABLE taskorch_nodes (id bytea PRIMARY KEY, host text NOT NULL,
                                  pid integer NOT NULL,
                                  started timestamptz NOT NULL DEFAULT now(),
                                  heartbeat timestamptz NOT NULL DEFAULT now(),
                                  stopped timestamptz);",
    // 4: supervised services (their records, read by `service`), and what a
    // graph's definition does not carry of its tasks (`graph_extras`).
    "CREATE TABLE taskorch_services (name text PRIMARY KEY, record bytea NOT NULL);
     CREATE TABLE taskorch_graph_extras (key bytea PRIMARY KEY, row bytea NOT NULL);",
];

/// Bring the database to [`SCHEMA`] (see the module docs).
///
/// # Errors
/// `StoreSchemaTooNew` for a newer database; `StoreConnect` if the
/// statements fail (permissions, say).
pub(super) async fn migrate(client: &mut Client, shown: &str) -> Result<u64> {
    migrate_to(client, shown, SCHEMA).await
}

/// Bring the database to version `target` (tests build old databases
/// with a `target` below [`SCHEMA`]). Answers the version found.
pub(super) async fn migrate_to(client: &mut Client, shown: &str, target: u64) -> Result<u64> {
    let fail = |e: tokio_postgres::Error| Error::StoreConnect {
        url: shown.to_string(),
        reason: format!("applying the schema failed: {e}"),
    };
    let txn = client.transaction().await.map_err(fail)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    let exists: bool = txn
        .query_one("SELECT to_regclass('taskorch_meta') IS NOT NULL", &[])
        .await
        .map_err(fail)?
        .get(0);
    let found = if exists {
        txn.query_opt("SELECT value FROM taskorch_meta WHERE key = 'schema'", &[])
            .await
            .map_err(fail)?
            .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64)
    } else {
        0
    };
    if found > SCHEMA {
        return Err(Error::StoreSchemaTooNew {
            store: shown.to_string(),
            found,
            supported: SCHEMA,
        });
    }
    if found >= target {
        return Ok(found);
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target as usize) {
        if (i as u64) < found {
            continue;
        }
        txn.batch_execute(sql).await.map_err(fail)?;
        tracing::info!(store = shown, version = i + 1, "store schema migrated");
    }
    let target = target as i64;
    txn.execute(
        "INSERT INTO taskorch_meta (key, value) VALUES ('schema', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&target],
    )
    .await
    .map_err(fail)?;
    txn.commit().await.map_err(fail)?;
    Ok(found)
}

/// Refuse a database written by a newer taskorch, changing nothing (for
/// readers, which do not migrate).
///
/// # Errors
/// `StoreSchemaTooNew`; `StoreConnect` if the version cannot be read.
pub(super) async fn check(client: &Client, shown: &str) -> Result<u64> {
    let fail = |e: tokio_postgres::Error| Error::StoreConnect {
        url: shown.to_string(),
        reason: format!("reading the schema version failed: {e}"),
    };
    let found = client
        .query_one(
            "SELECT CASE WHEN to_regclass('taskorch_meta') IS NULL THEN 0
                    ELSE (SELECT coalesce(max(value), 0) FROM taskorch_meta WHERE key = 'schema')
                    END",
            &[],
        )
        .await
        .map_err(fail)?
        .get::<_, i64>(0)
        .max(0) as u64;
    if found > SCHEMA {
        return Err(Error::StoreSchemaTooNew {
            store: shown.to_string(),
            found,
            supported: SCHEMA,
        });
    }
    Ok(found)
}
