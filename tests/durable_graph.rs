//! Durable task graphs: a graph submitted to a child process (the
//! `durable` example, "graph" and "graph-action" modes) that is SIGKILLed
//! mid-graph is adopted again by the next start on the same file: finished
//! tasks keep their result and do not run again, the task that was
//! running ends `Interrupted` with its dependents `Skipped`, and the tasks
//! still waiting run, once. Each task appends its name to a marker file
//! when it runs.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use taskorch::Orchestrator;
use taskorch::graph::{GraphRun, TaskStatus};

use crate::common::{fast_config, wait_until};
use crate::durable::start_durable;

/// How many times each task ran (one marker line per execution).
fn runs_per_task(marker: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(marker).unwrap_or_default().lines() {
        *counts.entry(line.trim().to_string()).or_default() += 1;
    }
    counts
}

/// Start the child in `mode`, wait until `running` has started (its
/// marker line is there: its start was durable before it ran), then
/// SIGKILL the child.
async fn crash_mid_graph(db: &Path, marker: &Path, mode: &str, running: &str) {
    let (mut child, mut lines) = start_durable(db, marker, mode);
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "ready" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the child submits its graph");
    assert!(
        wait_until(Duration::from_secs(20), || runs_per_task(marker)
            .contains_key(running))
        .await,
        "{running} starts"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// The one adopted graph called `name`.
fn adopted(orch: &Orchestrator, name: &str) -> GraphRun {
    let found: Vec<_> = orch
        .graphs()
        .list()
        .into_iter()
        .filter(|g| g.name.as_deref() == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one graph {name:?}: {found:?}");
    assert!(found[0].resumed);
    let run = orch.graphs().find(found[0].id).expect("its handle");
    assert_eq!(run.id(), found[0].id);
    assert_eq!(run.graph_name(), Some(name));
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_graph_resumes_without_running_finished_tasks_again() {
    let dir = tempfile::tempdir().unwrap();
    let (db, marker) = (dir.path().join("state.redb"), dir.path().join("marker"));
    // a -> b (Critical, sleeps) -> c; a -> d -> e; limit 1: at the crash
    // `a` succeeded, `b` runs, `d` is ready and `e` waits behind it.
    crash_mid_graph(&db, &marker, "graph", "b").await;
    assert_eq!(runs_per_task(&marker).get("d"), None, "d had not started");

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let run = adopted(&orch, "pipeline");
    let report = run
        .wait_timeout(Duration::from_secs(20))
        .await
        .expect("the adopted graph finishes");
    let status = |name: &str| report.by_name(name).unwrap().status;
    assert_eq!(status("a"), TaskStatus::Succeeded);
    assert_eq!(status("b"), TaskStatus::Interrupted);
    assert_eq!(status("c"), TaskStatus::Skipped);
    assert_eq!(status("d"), TaskStatus::Succeeded);
    assert_eq!(status("e"), TaskStatus::Succeeded);
    let a = report.by_name("a").unwrap();
    assert_eq!(a.output.as_ref().and_then(|o| o.exit_code), Some(0));
    assert!(a.run_id.is_some() && a.attempts == 1);
    let c = report.by_name("c").unwrap();
    assert_eq!(c.blocked_by, run.key("b"));
    // The interrupted task's run is in the history, interrupted too.
    let b_run = report.by_name("b").unwrap().run_id.expect("b had a run");
    assert_eq!(orch.status(b_run), Some(taskorch::RunStatus::Interrupted));
    let counts = runs_per_task(&marker);
    for (task, expected) in [("a", 1), ("b", 1), ("c", 0), ("d", 1), ("e", 1)] {
        assert_eq!(
            counts.get(task).copied().unwrap_or(0),
            expected,
            "{task} ran {expected} time(s): {counts:?}"
        );
    }
    orch.shutdown().await.unwrap();
    drop(orch);

    // Finished: the next start adopts nothing and runs nothing.
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    assert!(
        orch.graphs().list().is_empty(),
        "{:?}",
        orch.graphs().list()
    );
    orch.shutdown().await.unwrap();
    assert_eq!(runs_per_task(&marker), counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_task_and_an_action_task_complete_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (db, marker) = (dir.path().join("state.redb"), dir.path().join("marker"));
    // slow (Critical, sleeps), q (ready, queued behind the limit) -> act
    // (an in-process action): at the crash only `slow` had started.
    crash_mid_graph(&db, &marker, "graph-action", "slow").await;

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let run = adopted(&orch, "actions");
    let (slow, q, act) = (
        run.key("slow").unwrap(),
        run.key("q").unwrap(),
        run.key("act").unwrap(),
    );
    assert_eq!(run.status(slow), Some(TaskStatus::Interrupted));
    // The graph waits for its action to be registered again: nothing runs.
    assert_eq!(run.status(q), Some(TaskStatus::Pending));
    assert!(!run.is_finished());
    orch.register_action("echo", |input| async move { Ok(input) });
    let report = run
        .wait_timeout(Duration::from_secs(20))
        .await
        .expect("the adopted graph finishes");
    assert_eq!(report.get(q).unwrap().status, TaskStatus::Succeeded);
    let act = report.get(act).unwrap();
    assert_eq!(act.status, TaskStatus::Succeeded);
    assert_eq!(act.output.as_ref().unwrap().value, Some(json!({"n": 2})));
    let counts = runs_per_task(&marker);
    assert_eq!((counts.get("slow"), counts.get("q")), (Some(&1), Some(&1)));
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_store_graphs_lists_graphs_in_flight_only() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let mut graph = taskorch::graph::TaskGraph::new().named("mem");
    graph.add(taskorch::graph::GraphTask::new(
        "t",
        taskorch::Task::command("sleep").arg("5"),
    ));
    let run = orch.graphs().start(graph).await.unwrap();
    let listed = orch.graphs().list();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].name.as_deref(), listed[0].resumed),
        (run.id(), Some("mem"), false)
    );
    assert!(orch.graphs().find(run.id()).is_some());
    run.cancel_all();
    run.wait_timeout(Duration::from_secs(10)).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || orch
            .graphs()
            .find(run.id())
            .is_none())
        .await,
        "a finished graph leaves the table"
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_added_before_a_crash_runs_after_it_with_its_outside_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let (db, marker) = (dir.path().join("state.redb"), dir.path().join("marker"));
    // At the crash: `a` succeeded, `slow` runs, and `late`, added while
    // `slow` ran, waits for the one slot. It also waits on a launched run
    // and on a task of another graph, both finished before the crash.
    crash_mid_graph(&db, &marker, "graph-grow", "slow").await;
    assert_eq!(runs_per_task(&marker).get("late"), None);

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let run = adopted(&orch, "growing");
    assert_eq!(run.len(), 3, "the added task is part of the stored graph");
    let late = run.key("late").expect("the added task");
    let report = run.wait_timeout(Duration::from_secs(20)).await.unwrap();
    assert_eq!(
        report.by_name("slow").unwrap().status,
        TaskStatus::Interrupted
    );
    assert_eq!(
        report.get(late).unwrap().status,
        TaskStatus::Succeeded,
        "{report:#?}"
    );
    let counts = runs_per_task(&marker);
    assert_eq!(counts.get("late"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("a"), Some(&1));
    assert_eq!(counts.get("pre"), Some(&1));
    // The adopted graph, finished, grows again: reopened and driven here.
    let again = run
        .add(
            taskorch::graph::GraphTask::new(
                "again",
                taskorch::Task::shell(format!("echo again >> '{}'", marker.display())),
            )
            .after(late),
        )
        .await
        .unwrap();
    let grown = run.wait_timeout(Duration::from_secs(20)).await.unwrap();
    assert_eq!(grown.get(again).unwrap().status, TaskStatus::Succeeded);
    let counts = runs_per_task(&marker);
    assert_eq!(counts.get("again"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("late"),
        Some(&1),
        "nothing ran twice: {counts:?}"
    );
    // Its run carries its task's label, in memory and in the store.
    let query = taskorch::RunQuery::new().label("grown", "yes");
    let late_run = report.get(late).unwrap().run_id;
    let found = orch.observe().find_runs(&query);
    assert_eq!(
        found.iter().map(|r| Some(r.id)).collect::<Vec<_>>(),
        [late_run]
    );
    let stored = orch.observe().history(&query).unwrap();
    assert_eq!(
        stored.iter().map(|r| Some(r.id)).collect::<Vec<_>>(),
        [late_run]
    );
    orch.shutdown().await.unwrap();
}
