//! The PostgreSQL store (feature `postgres`) through the public API and the
//! CLI: history, output and outcomes across a restart, a `kill -9`ed node's
//! runs interrupted and its queued runs started once, typed start errors,
//! and `--store postgres://…` (`run`, `runs`, `nodes`).
//!
//! Each test creates its own database in the cluster `TASKORCH_TEST_PG_URL`
//! names (`.ci/run` and `scripts/dev-postgres.sh` start one), so they run
//! in parallel. Without the variable a test is skipped with a printed
//! reason, except under `CI=true`, where it fails: CI must run them.

use std::path::Path;

use taskorch::store::StoreConfig;
use taskorch::{Config, Error, Orchestrator, RunQuery, RunStatus, Task};

use crate::common::fast_config;

/// A database of its own in the test cluster, dropped with the value.
struct TestDb {
    url: String,
    admin: String,
    name: String,
}

/// The test cluster's URL; `None` (after saying why) outside CI.
fn cluster_url() -> Option<String> {
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
fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let path = rest.find('/').unwrap_or(rest.len());
    let query = rest[path..].find('?').map_or("", |i| &rest[path + i..]);
    format!("{}{}/{db}{query}", &url[..start], &rest[..path])
}

async fn admin(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test cluster answers");
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = driver.await;
}

impl TestDb {
    async fn new() -> Option<TestDb> {
        let admin_url = cluster_url()?;
        let name = format!("taskorch_it_{}", uuid_like());
        admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            admin: admin_url,
            name,
        })
    }

    fn config(&self) -> Config {
        fast_config().store(StoreConfig::postgres(&self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Dropped inside a test's runtime: a thread of its own.
        let (admin_url, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin(
                    &admin_url,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ))
        })
        .join();
    }
}

/// A name no other test (or test process) picks.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_output_and_outcomes_survive_a_restart_on_postgres() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let orch = Orchestrator::start(db.config()).await.unwrap();
    let greet = orch
        .run(Task::shell("echo hello; echo oops >&2").name("greet"))
        .await
        .unwrap()
        .run_id;
    let failed = orch
        .launch(Task::shell("exit 3").name("fail").label("team", "a"))
        .await
        .unwrap();
    assert!(!orch.wait(failed).await.unwrap().success());
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(db.config()).await.unwrap();
    let info = orch.observe().find_run(greet).expect("a run from before");
    assert_eq!(
        (info.name.as_str(), info.status, info.exit_code),
        ("greet", RunStatus::Succeeded, Some(0))
    );
    assert_eq!(orch.status(failed), Some(RunStatus::Failed));
    let lines: Vec<String> = orch
        .output(greet)
        .expect("output of a run from before the restart")
        .lines
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(lines, ["hello", "oops"]);
    let all = orch.observe().history(&RunQuery::new()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [failed, greet],
        "newest first"
    );
    let team = orch
        .observe()
        .history(&RunQuery::new().label("team", "a"))
        .unwrap();
    assert_eq!(team.iter().map(|r| r.id).collect::<Vec<_>>(), [failed]);
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_its_running_runs_interrupted_and_queued_ones_started_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let (mut child, mut lines) = crate::durable::start_durable(Path::new(&db.url), &marker, "hold");
    let (mut blocker, mut queued) = (None, Vec::new());
    while let Some(line) = lines.next_line().await.unwrap() {
        match line.split_once(' ') {
            Some(("blocker", id)) => blocker = Some(id.parse().unwrap()),
            Some(("queued", id)) => queued.push(id.parse().unwrap()),
            _ if line == "ready" => break,
            _ => {}
        }
    }
    let blocker = blocker.expect("blocker launched");
    let pids = crate::common::wait_for_pids(&marker.with_extension("pids"), 2).await;
    // SIGKILL: nothing of the node's shutdown runs.
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let orch = Orchestrator::start(db.config()).await.unwrap();
    assert_eq!(orch.status(blocker), Some(RunStatus::Interrupted));
    crate::common::assert_all_dead(&pids).await;
    for &id in &queued {
        assert!(
            matches!(orch.wait(id).await, Ok(out) if out.success()),
            "resumed run {id} succeeds"
        );
    }
    orch.shutdown().await.unwrap();
    let marks = std::fs::read_to_string(&marker).unwrap();
    for id in &queued {
        assert_eq!(
            marks.matches(&id.to_string()).count(),
            1,
            "run {id} ran once"
        );
    }
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_fails_the_start_typed() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let wrong_user = db.url.replacen("postgres@", "nobody:secret@", 1);
    let err = Orchestrator::start(fast_config().store(StoreConfig::postgres(wrong_user)))
        .await
        .unwrap_err();
    let Error::StoreConnect { url, reason } = &err else {
        panic!("{err}")
    };
    assert!(
        !url.contains("secret") && reason.contains("nobody"),
        "{err}"
    );
    let err = Orchestrator::start(fast_config().store("postgres://x@127.0.0.1:1/none"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StoreConnect { .. }), "{err}");
    let err = Orchestrator::start(fast_config().store("postgres://x@h:port/none"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidStoreUrl { .. }), "{err}");
    // A second orchestrator on a database in use is refused.
    let first = Orchestrator::start(db.config()).await.unwrap();
    let err = Orchestrator::start(db.config()).await.unwrap_err();
    assert!(
        matches!(&err, Error::StoreConnect { reason, .. } if reason.contains("in use")),
        "{err}"
    );
    first.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_and_lists_runs_on_a_postgres_store() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let (ran, listed, nodes, on_redb) = tokio::task::spawn_blocking(move || {
        let ran = crate::cli::taskorch(
            dir.path(),
            &[
                "run", "--store", &url, "--name", "hello", "--", "echo", "hi",
            ],
        );
        let listed = crate::cli::taskorch(dir.path(), &["runs", "--store", &url, "--json"]);
        let nodes = crate::cli::taskorch(dir.path(), &["nodes", "--store", &url, "--json"]);
        let on_redb = crate::cli::taskorch(dir.path(), &["nodes"]);
        (ran, listed, nodes, on_redb)
    })
    .await
    .unwrap();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "hi\n");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("\"hello\""), "{}", listed.stdout);
    // The `run` process was one node; it stopped cleanly.
    assert_eq!(nodes.code, 0, "{}", nodes.stderr);
    let list: serde_json::Value = serde_json::from_str(&nodes.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", nodes.stdout);
    assert_eq!(list[0]["live"], false);
    assert!(list[0]["stopped"].is_string(), "{}", nodes.stdout);
    assert_eq!(
        on_redb.code, 2,
        "a redb store has no nodes: {}",
        on_redb.stderr
    );
}
