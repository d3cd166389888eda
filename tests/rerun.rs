//! Reruns (`Orchestrator::rerun`) and the dead-letter view
//! (`RunQuery::dead_letter`): a rerun is a new run of the old run's task,
//! linked to it, also after the store is reopened; runs that failed for
//! good are found as such in memory and in the store.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::{Config, Error, Orchestrator, RunId, RunQuery, RunStatus, Task};

use crate::common::fast_config;

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_a_finished_run_runs_the_same_task_under_a_new_id() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let task = Task::shell("echo again; exit 3")
        .name("flaky")
        .label("bot", "b-7");
    let old = orch.launch(task).await.unwrap();
    assert_eq!(orch.wait(old).await.unwrap().exit_code, Some(3));

    let new = orch.rerun(old).await.unwrap();
    assert_ne!(new, old);
    let out = orch.wait(new).await.unwrap();
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.stdout_str().trim(), "again");
    let info = orch.observe().find_run(new).unwrap();
    assert_eq!(info.name, "flaky");
    assert_eq!(info.status, RunStatus::Failed);
    assert_eq!(orch.observe().rerun_of(new), Some(old));
    assert_eq!(orch.observe().rerun_of(old), None);
    // The old run is left as it was.
    assert_eq!(orch.status(old), Some(RunStatus::Failed));
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_any_pattern_can_be_rerun() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let old = orch.run(Task::shell("echo simple")).await.unwrap();
    let old = old.run_id;
    let new = orch.rerun(old).await.unwrap();
    assert_eq!(orch.wait(new).await.unwrap().stdout_str().trim(), "simple");
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_a_run_that_has_not_ended_is_refused() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let id = orch.launch(Task::command("sleep").arg("30")).await.unwrap();
    let err = orch.rerun(id).await.unwrap_err();
    assert!(
        matches!(err, Error::RunStillActive(run) if run == id),
        "{err:?}"
    );
    assert_eq!(orch.runs().len(), 1, "nothing else was started");
    orch.cancel(id).await.unwrap();
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_an_unknown_run_is_refused() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let id = RunId::new();
    let err = orch.rerun(id).await.unwrap_err();
    assert!(
        matches!(err, Error::UnknownRun(run) if run == id),
        "{err:?}"
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_a_graph_task_without_a_store_names_the_missing_task() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let mut g = TaskGraph::new();
    let key = g.add(GraphTask::new("step", Task::command("true")));
    let report = orch.graphs().run(g).await.unwrap();
    let id = report.get(key).unwrap().run_id.expect("the task ran");
    let err = orch.rerun(id).await.unwrap_err();
    assert!(
        matches!(&err, Error::TaskNotKept { run, .. } if *run == id),
        "{err:?}"
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_from_before_a_restart_is_rerun_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let (old, action) = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        orch.register_action("echo", |v| async move { Ok(v) });
        let old = orch
            .launch(Task::shell("echo stored; exit 0").name("nightly"))
            .await
            .unwrap();
        let action = orch.launch(Task::action("echo", json!(1))).await.unwrap();
        orch.wait(old).await.unwrap();
        orch.wait(action).await.unwrap();
        orch.shutdown().await.unwrap();
        (old, action)
    };

    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let new = orch.rerun(old).await.unwrap();
    let out = orch.wait(new).await.unwrap();
    assert_eq!(out.stdout_str().trim(), "stored");
    assert_eq!(orch.observe().find_run(new).unwrap().name, "nightly");
    assert_eq!(orch.observe().rerun_of(new), Some(old));
    // An action whose name was not registered again cannot run.
    let err = orch.rerun(action).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "echo"),
        "{err:?}"
    );
    orch.shutdown().await.unwrap();

    // The link itself is durable.
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let run = orch.observe().stored_run(new).expect("the rerun is stored");
    assert_eq!(run.rerun_of, Some(old));
    assert_eq!(orch.observe().rerun_of(new), Some(old));
    orch.shutdown().await.unwrap();
}

/// One run of each way to end: the dead letters are `fails` (after its
/// retry) and `slow` (timed out).
async fn one_of_each(orch: &Orchestrator) -> (Vec<RunId>, Vec<RunId>) {
    let ok = orch.launch(Task::command("true")).await.unwrap();
    let fails = orch
        .launch(
            Task::command("false")
                .retries(1)
                .backoff(taskorch::Backoff::none()),
        )
        .await
        .unwrap();
    let slow = orch
        .launch(
            Task::command("sleep")
                .arg("30")
                .timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    let cancelled = orch.launch(Task::command("sleep").arg("30")).await.unwrap();
    orch.cancel(cancelled).await.unwrap();
    for id in [ok, fails, slow, cancelled] {
        let _ = orch.wait(id).await;
    }
    assert_eq!(
        orch.observe().find_run(fails).unwrap().attempts,
        2,
        "retried once"
    );
    (vec![fails, slow], vec![ok, cancelled])
}

fn ids(runs: &[taskorch::RunInfo]) -> Vec<RunId> {
    let mut ids: Vec<RunId> = runs.iter().map(|r| r.id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_the_runs_that_failed_after_every_attempt() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let (dead, _alive) = one_of_each(&orch).await;
    let found = orch.observe().find_runs(&RunQuery::new().dead_letter());
    assert_eq!(ids(&found), dead);
    assert_eq!(
        ids(&orch
            .observe()
            .history(&RunQuery::new().dead_letter())
            .unwrap()),
        dead
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_read_from_the_store_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let dead = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        let (dead, _) = one_of_each(&orch).await;
        orch.shutdown().await.unwrap();
        dead
    };
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let found = orch
        .observe()
        .history(&RunQuery::new().dead_letter())
        .unwrap();
    assert_eq!(ids(&found), dead);
    let newest = orch
        .observe()
        .history(&RunQuery::new().dead_letter().most_recent(1))
        .unwrap();
    assert_eq!(ids(&newest), vec![dead[1]]);
    orch.shutdown().await.unwrap();
}
