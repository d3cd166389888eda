//! The PostgreSQL store against a real server: each test creates its own
//! database in the cluster `TASKORCH_TEST_PG_URL` names (`.ci/run` and
//! `scripts/dev-postgres.sh` start one), so tests run in parallel. Without
//! the variable a test is skipped with a printed reason, except under
//! `CI=true`, where it fails: CI must run them.

use std::time::Duration;

use super::super::records::{self, ErrorRow, OutcomeRow, OutputRow, RunRow};
use super::super::{Finish, GraphRow, GraphTaskDef, GraphTaskRow, Op, Store, StoreLimits};
use super::*;
use crate::lines::CapturedOutput;
use crate::output::{OutputLine, StreamKind};
use crate::pattern::Pattern;
use crate::run::{RunQuery, RunStatus};
use crate::task::{JobOptions, Task};

/// A database of its own in the test cluster, dropped with the value.
pub(crate) struct TestDb {
    /// The URL of the new database.
    pub(crate) url: String,
    admin: String,
    name: String,
    runtime: Runtime,
}

/// The test cluster's URL; `None` (after saying why) if there is none
/// and this is not CI.
pub(crate) fn cluster_url() -> Option<String> {
    match std::env::var("TASKORCH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "TASKORCH_TEST_PG_URL is not set: CI must run the PostgreSQL tests (.ci/run starts \
             a cluster with scripts/dev-postgres.sh)"
        ),
        _ => {
            eprintln!(
                "skipped: TASKORCH_TEST_PG_URL is not set (start a cluster with \
                 `eval \"$(scripts/dev-postgres.sh start)\"`)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `db`.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let path = rest.find('/').map_or(rest.len(), |i| i);
    let query = rest[path..].find('?').map_or("", |i| &rest[path + i..]);
    format!("{}{}/{db}{query}", &url[..start], &rest[..path])
}

impl TestDb {
    /// A new, empty database; `None` if the tests are skipped.
    pub(crate) fn new() -> Option<TestDb> {
        let admin = cluster_url()?;
        let name = format!("taskorch_t_{}", uuid::Uuid::now_v7().simple());
        let runtime = Runtime::new().expect("a runtime");
        let db = TestDb {
            url: with_database(&admin, &name),
            admin,
            name,
            runtime,
        };
        db.admin(format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    /// Run `sql` on the cluster's admin database.
    pub(crate) fn admin(&self, sql: String) {
        let url = self.admin.clone();
        self.runtime
            .block(async move {
                let config: tokio_postgres::Config = url.parse().unwrap();
                let client = connect(&config, "test").await.unwrap();
                client.batch_execute(&sql).await
            })
            .unwrap()
            .unwrap();
    }

    /// Run `f` with a connection to this database.
    pub(crate) fn with<T: Send + 'static, Fut>(
        &self,
        f: impl FnOnce(Client) -> Fut + Send + 'static,
    ) -> T
    where
        Fut: Future<Output = T> + Send,
    {
        let url = self.url.clone();
        self.runtime
            .block(async move {
                let config: tokio_postgres::Config = url.parse().unwrap();
                let client = connect(&config, "test").await.unwrap();
                f(client).await
            })
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let url = self.admin.clone();
        let _ = self.runtime.block(async move {
            let config: tokio_postgres::Config = url.parse().ok()?;
            let client = connect(&config, "test").await.ok()?;
            client.batch_execute(&sql).await.ok()
        });
    }
}

fn limits() -> StoreLimits {
    StoreLimits {
        history_limit: 1000,
        output_budget: 1 << 20,
        kill_grace: Duration::from_millis(100),
    }
}

fn queued(name: &str, task: Option<Task>) -> Box<RunRow> {
    Box::new(RunRow {
        name: name.into(),
        pattern: Pattern::FireAndForget,
        status: RunStatus::Queued,
        queued: records::micros(std::time::SystemTime::now()),
        started: None,
        finished: None,
        exit_code: None,
        attempts: 0,
        pid: None,
        task,
        outcome: None,
    })
}

fn finish(output: Option<OutputRow>) -> Box<Finish> {
    Box::new(Finish {
        status: RunStatus::Succeeded,
        at: records::micros(std::time::SystemTime::now()),
        exit_code: Some(0),
        attempts: 1,
        outcome: OutcomeRow::Error(ErrorRow::Cancelled),
        output,
    })
}

fn output(text: &str) -> OutputRow {
    OutputRow {
        lines: CapturedOutput {
            lines: vec![OutputLine {
                stream: StreamKind::Stdout,
                seq: 0,
                text: text.into(),
            }],
            ..CapturedOutput::default()
        },
        ..OutputRow::default()
    }
}

fn job(key: Option<&str>, labels: &[(&str, &str)]) -> Box<records::JobRow> {
    let options = JobOptions {
        key: key.map(Into::into),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..JobOptions::default()
    };
    Box::new(records::JobRow::new(&options, None, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_outputs_schedules_queues_and_the_halt_survive_a_reopen() {
    let Some(db) = TestDb::new() else { return };
    let url = db.url.clone();
    let (store, found) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || Store::open_postgres(&url, limits())
    })
    .await
    .unwrap()
    .unwrap();
    assert!(found.queued.is_empty() && found.interrupted.is_empty());
    let (done, waiting, running) = (RunId::new(), RunId::new(), RunId::new());
    store.journal(|| Op::Queued {
        id: done,
        row: queued("done", None),
        job: Some(job(Some("k1"), &[("team", "a")])),
    });
    store.journal(|| Op::Started { id: done, at: 5 });
    store.journal(|| Op::Finished {
        id: done,
        end: finish(Some(output("hello"))),
    });
    store.journal(|| Op::Queued {
        id: waiting,
        row: queued("waiting", Some(Task::command("true"))),
        job: None,
    });
    store.journal(|| Op::Queued {
        id: running,
        row: queued("running", Some(Task::command("true"))),
        job: Some(job(None, &[("team", "b")])),
    });
    store.journal(|| Op::Started { id: running, at: 6 });
    store.journal(|| Op::Halt {
        reason: Some("maintenance".into()),
    });
    store.journal(|| Op::Queue {
        name: "emails".into(),
        row: super::super::QueueRow {
            concurrency: Some(3),
            rate: None,
            paused: true,
        },
    });
    store.sync().await.unwrap();

    // Reads while open: a run with its output and options, history by
    // name and by label, the keyed runs.
    let stored = store.stored_run(done).unwrap();
    assert_eq!(stored.info.status, RunStatus::Succeeded);
    assert_eq!(stored.lines.lines[0].text, "hello");
    assert_eq!(stored.job.key.as_deref(), Some("k1"));
    let named = store.history(&RunQuery::default().name("waiting")).unwrap();
    assert_eq!(named.iter().map(|r| r.id).collect::<Vec<_>>(), [waiting]);
    let team_b = store
        .history(&RunQuery::default().label("team", "b"))
        .unwrap();
    assert_eq!(team_b.iter().map(|r| r.id).collect::<Vec<_>>(), [running]);
    let all = store.history(&RunQuery::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [running, waiting, done],
        "newest first"
    );
    let keyed = store.keyed_since(std::time::SystemTime::UNIX_EPOCH);
    assert_eq!(keyed.len(), 1);
    assert_eq!((keyed[0].0.as_str(), keyed[0].1), ("k1", done));
    store.close();
    drop(store);

    let (store, found) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, limits()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.queued.iter().map(|r| r.id).collect::<Vec<_>>(),
        [waiting],
        "accepted, never started: handed back once"
    );
    assert_eq!(found.interrupted, [running]);
    assert_eq!(found.halted.as_deref(), Some("maintenance"));
    assert_eq!(found.queues.len(), 1);
    assert!(found.queues[0].1.paused);
    assert_eq!(store.run(running).unwrap().status, RunStatus::Interrupted);
    assert_eq!(store.run(done).unwrap().status, RunStatus::Succeeded);
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_finished_runs_with_their_labels_and_output() {
    let Some(db) = TestDb::new() else { return };
    let url = db.url.clone();
    let small = StoreLimits {
        history_limit: 2,
        ..limits()
    };
    let (store, _) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, small))
        .await
        .unwrap()
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = RunId::new();
        ids.push(id);
        store.journal(|| Op::Queued {
            id,
            row: queued("t", None),
            job: Some(job(None, &[("x", "y")])),
        });
        store.journal(|| Op::Finished {
            id,
            end: finish(Some(output("o"))),
        });
        store.sync().await.unwrap();
    }
    let kept: Vec<bool> = ids.iter().map(|&id| store.run(id).is_some()).collect();
    assert_eq!(kept, [false, false, false, true, true]);
    let labelled = store.history(&RunQuery::default().label("x", "y")).unwrap();
    assert_eq!(labelled.len(), 2);
    let counts = db.with(|c| async move {
        let mut n = Vec::new();
        for t in ["taskorch_jobs", "taskorch_labels", "taskorch_output"] {
            let row = c
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap();
            n.push(row.get::<_, i64>(0));
        }
        n
    });
    assert_eq!(
        counts,
        [2, 2, 2],
        "jobs, labels and output go with their runs"
    );
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_schema_is_migrated_and_its_rows_kept() {
    let Some(db) = TestDb::new() else { return };
    let id = RunId::new();
    let row = records::encode(&*queued("old", None));
    db.with(move |mut c| async move {
        assert_eq!(schema::migrate_to(&mut c, "test", 1).await.unwrap(), 0);
        c.execute(
            "INSERT INTO taskorch_runs (id, row, active) VALUES ($1, $2, false)",
            &[&id.as_bytes().as_slice(), &row],
        )
        .await
        .unwrap();
    });
    let url = db.url.clone();
    let (store, _) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, limits()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.run(id).unwrap().name, "old");
    let version = db.with(|c| async move {
        let graphs = c
            .query_one("SELECT to_regclass('taskorch_graphs') IS NOT NULL", &[])
            .await
            .unwrap()
            .get::<_, bool>(0);
        let v = c
            .query_one("SELECT value FROM taskorch_meta WHERE key = 'schema'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0);
        (graphs, v)
    });
    assert_eq!(version, (true, schema::SCHEMA as i64));
    store.close();
}

#[test]
fn a_newer_schema_is_refused_naming_both_versions_and_left_alone() {
    let Some(db) = TestDb::new() else { return };
    let newer = schema::SCHEMA as i64 + 1;
    db.with(move |mut c| async move {
        schema::migrate(&mut c, "test").await.unwrap();
        c.execute(
            "UPDATE taskorch_meta SET value = $1 WHERE key = 'schema'",
            &[&newer],
        )
        .await
        .unwrap();
    });
    let Err(err) = Store::open_postgres(&db.url, limits()) else {
        panic!("a newer schema must be refused");
    };
    let Error::StoreSchemaTooNew {
        found, supported, ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!((found, supported), (newer as u64, schema::SCHEMA));
    let still = db.with(|c| async move {
        c.query_one("SELECT value FROM taskorch_meta WHERE key = 'schema'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    });
    assert_eq!(still, newer, "the database is left as it was");
}

#[test]
fn a_bad_url_wrong_credentials_or_a_missing_database_fail_the_start_typed() {
    let Some(db) = TestDb::new() else { return };
    let Err(err) = Store::open_postgres("postgres://u@h:notaport/db", limits()) else {
        panic!("a bad URL must be refused");
    };
    assert!(matches!(err, Error::InvalidStoreUrl { .. }), "{err}");
    // The test cluster trusts local users, so a wrong role stands for
    // wrong credentials: the server refuses it by name.
    let wrong_user = db.url.replacen("postgres@", "nobody:secret@", 1);
    let Err(err) = Store::open_postgres(&wrong_user, limits()) else {
        panic!("an unknown user must be refused");
    };
    let Error::StoreConnect { url, reason } = &err else {
        panic!("{err}")
    };
    assert!(!url.contains("secret"), "the password is not shown: {url}");
    assert!(reason.contains("nobody"), "{reason}");
    let missing = with_database(&db.url, "taskorch_no_such_db");
    let Err(err) = Store::open_postgres(&missing, limits()) else {
        panic!("a missing database must be refused");
    };
    assert!(
        matches!(&err, Error::StoreConnect { reason, .. } if reason.contains("does not exist")),
        "{err}"
    );
    // Nothing listens on port 1.
    let Err(err) = Store::open_postgres("postgres://postgres@127.0.0.1:1/x", limits()) else {
        panic!("an unreachable server must be refused");
    };
    assert!(matches!(err, Error::StoreConnect { .. }), "{err}");
}

#[test]
fn a_second_orchestrator_on_the_same_database_is_refused() {
    let Some(db) = TestDb::new() else { return };
    let (first, _) = Store::open_postgres(&db.url, limits()).unwrap();
    let Err(err) = Store::open_postgres(&db.url, limits()) else {
        panic!("the second must be refused");
    };
    assert!(
        matches!(&err, Error::StoreConnect { reason, .. } if reason == IN_USE),
        "{err}"
    );
    first.close();
    let (again, _) = Store::open_postgres(&db.url, limits()).unwrap();
    again.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reconnects_after_its_connection_is_killed_and_loses_nothing() {
    let Some(db) = TestDb::new() else { return };
    let url = db.url.clone();
    let (store, _) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, limits()))
        .await
        .unwrap()
        .unwrap();
    let before = RunId::new();
    store.journal(|| Op::Queued {
        id: before,
        row: queued("before", None),
        job: None,
    });
    store.sync().await.unwrap();
    // What a server restart does to every session (waiting until they
    // have ended, as after a restart: see "The database going away" in
    // docs/postgres.md for a session the server has not ended yet).
    db.admin(format!(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{}' AND pid <> \
         pg_backend_pid()",
        db.name
    ));
    let after = RunId::new();
    store.journal(|| Op::Queued {
        id: after,
        row: queued("after", None),
        job: None,
    });
    store.sync().await.unwrap();
    assert_eq!(store.run(before).unwrap().name, "before");
    assert_eq!(store.run(after).unwrap().name, "after");
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_are_recovered_and_a_task_run_finds_its_task() {
    let Some(db) = TestDb::new() else { return };
    let url = db.url.clone();
    let (store, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || Store::open_postgres(&url, limits())
    })
    .await
    .unwrap()
    .unwrap();
    let key = *RunId::new().as_bytes();
    let run = RunId::new();
    let def = GraphRow {
        name: Some("g".into()),
        limit: 1,
        aging: 0,
        submitted: 0,
        tasks: vec![GraphTaskDef {
            name: "a".into(),
            task: Task::command("echo"),
            deps: vec![],
            priority: super::super::graphs::StoredPriority::Normal,
            resources: vec![],
            tags: vec![],
            metadata: "null".into(),
        }],
    };
    store.journal(|| Op::Graph {
        key,
        row: Box::new(def),
    });
    store.journal(|| Op::Queued {
        id: run,
        row: queued("a", None),
        job: None,
    });
    store.journal(|| Op::Started { id: run, at: 1 });
    store.journal(|| Op::Finished {
        id: run,
        end: finish(Some(output("done"))),
    });
    // The crash fell between the run's end and the graph's record of it.
    store.journal(|| Op::GraphTask {
        key,
        index: 0,
        row: Box::new(GraphTaskRow {
            status: super::super::StoredTaskStatus::Running,
            attempts: 1,
            run: Some(run),
            started: Some(1),
            finished: None,
            duration_us: None,
            outcome: None,
            exit_code: None,
            error: None,
        }),
    });
    store.sync().await.unwrap();
    assert_eq!(
        store
            .stored_run(run)
            .unwrap()
            .task
            .and_then(|t| t.command_line().map(|(p, _)| p.to_string())),
        Some("echo".into())
    );
    store.close();
    drop(store);
    let (store, found) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, limits()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.graphs.len(), 1);
    let (task, out) = found.graphs[0].tasks[0].clone().unwrap();
    assert_eq!(task.status, super::super::StoredTaskStatus::Succeeded);
    assert_eq!(out.unwrap().lines.lines[0].text, "done");
    store.close();
}

#[test]
fn a_database_name_is_swapped_in_a_url() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres?x=1", "t"),
        "postgres://u@h:1/t?x=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_commits_are_refused_typed_then_resume_losing_nothing() {
    let Some(db) = TestDb::new() else { return };
    let url = db.url.clone();
    let (store, _) = tokio::task::spawn_blocking(move || Store::open_postgres(&url, limits()))
        .await
        .unwrap()
        .unwrap();
    let acknowledged = RunId::new();
    store.journal(|| Op::Queued {
        id: acknowledged,
        row: queued("acknowledged", None),
        job: None,
    });
    store.sync().await.unwrap();
    // The database goes away: no new session, and ours are cut.
    db.admin(format!(
        "ALTER DATABASE {0} ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid, 5000) FROM \
         pg_stat_activity WHERE datname = '{0}' AND pid <> pg_backend_pid()",
        db.name
    ));
    let during = RunId::new();
    store.journal(|| Op::Queued {
        id: during,
        row: queued("during", None),
        job: None,
    });
    let refused = store.sync().await.unwrap_err();
    assert!(
        matches!(refused, Error::StoreUnavailable { .. }),
        "{refused}"
    );
    // It comes back: the pending change is committed by the next attempt.
    db.admin(format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.sync().await {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(matches!(e, Error::StoreUnavailable { .. }), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not come back: {e}"),
        }
    }
    assert_eq!(store.run(acknowledged).unwrap().name, "acknowledged");
    assert_eq!(store.run(during).unwrap().name, "during");
    store.close();
}

#[test]
fn each_start_is_a_node_live_while_it_heartbeats_and_stopped_after_close() {
    let Some(db) = TestDb::new() else { return };
    let (store, _) = Store::open_postgres(&db.url, limits()).unwrap();
    let nodes = store.nodes().unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].live && nodes[0].stopped.is_none());
    assert_eq!(nodes[0].pid, std::process::id());
    let first = nodes[0].id.clone();
    store.close();
    drop(store);

    let (store, _) = Store::open_postgres(&db.url, limits()).unwrap();
    // A node whose heartbeat is older than the lease (by the database's
    // clock) is gone: what a killed or frozen node looks like.
    let second = store.nodes().unwrap()[0].id.clone();
    db.with(move |c| async move {
        c.execute(
            "UPDATE taskorch_nodes SET heartbeat = now() - interval '1 minute' WHERE id = $1",
            &[&uuid::Uuid::parse_str(&second)
                .unwrap()
                .as_bytes()
                .as_slice()],
        )
        .await
        .unwrap();
    });
    let reader = Store::open_postgres_read_only(&db.url).unwrap();
    let nodes = reader.nodes().unwrap();
    assert_eq!(nodes.len(), 2, "newest first: {nodes:?}");
    assert!(
        !nodes[0].live && nodes[0].stopped.is_none(),
        "lease expired"
    );
    assert_eq!(nodes[1].id, first);
    assert!(
        !nodes[1].live && nodes[1].stopped.is_some(),
        "stopped cleanly"
    );
    reader.close();
    store.close();
}
