//! `GraphRun::retry`: a failed task runs again and the tasks skipped
//! because of it run after all, in a finished graph (reopened) and in a
//! running one; what cannot be retried is refused.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_retried_task_lets_its_skipped_dependents_run() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(step("a", 5));
    let b = g.add(GraphTask::new("b", failing("b", 5, 1)).after(a));
    let c = g.add(step("c", 5).after(b));
    let d = g.add(step("d", 5).after(c));
    // Also waits on `x`, which fails for good: stays skipped.
    let x = g.add(GraphTask::new("x", failing("x", 5, 99)));
    let e = g.add(step("e", 5).after(b).after(x));
    let run = rt.graphs().start(g).await.unwrap();
    let first = run.wait().await;
    assert_eq!(first.get(b).unwrap().status, TaskStatus::Failed);
    assert_eq!(first.get(d).unwrap().status, TaskStatus::Skipped);
    let old_run = first.get(b).unwrap().run_id.unwrap();

    run.retry(b).await.unwrap();
    let report = run.wait().await;
    for key in [a, b, c, d] {
        assert_eq!(
            report.get(key).unwrap().status,
            TaskStatus::Succeeded,
            "{key:?}"
        );
    }
    assert_eq!(report.get(x).unwrap().status, TaskStatus::Failed);
    let skipped = report.get(e).unwrap();
    assert_eq!(skipped.status, TaskStatus::Skipped);
    assert_eq!(
        skipped.blocked_by,
        Some(x),
        "now skipped for the other failure"
    );
    let retried = report.get(b).unwrap();
    assert_ne!(retried.run_id, Some(old_run), "a new run");
    assert_eq!(
        rt.status(old_run),
        Some(RunStatus::Failed),
        "the old run is kept"
    );
    assert_eq!(
        (probe.calls("a"), probe.calls("b"), probe.calls("c")),
        (1, 2, 1)
    );
    let stats = report.stats;
    assert_eq!(
        (stats.completed, stats.failed, stats.skipped, stats.total),
        (4, 1, 1, 6)
    );
    assert!(run.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_task_can_be_retried_while_the_graph_still_runs() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let b = g.add(GraphTask::new("b", failing("b", 5, 1)));
    let c = g.add(step("c", 5).after(b));
    let slow = g.add(step("slow", 10_000));
    let run = rt.graphs().start(g).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || run.status(c)
            == Some(TaskStatus::Skipped))
        .await
    );
    assert_eq!(run.status(slow), Some(TaskStatus::Running));
    run.retry(b).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || run.status(c)
            == Some(TaskStatus::Succeeded))
        .await
    );
    assert_eq!(
        run.status(slow),
        Some(TaskStatus::Running),
        "c ran while slow ran"
    );
    let report = run.wait().await;
    assert!(report.success(), "{report:?}");
    assert_eq!(probe.calls("b"), 2);
}

#[tokio::test(start_paused = true)]
async fn only_a_failed_task_of_this_graph_can_be_retried() {
    let rt = start_runtime().await;
    Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(step("a", 5));
    let b = g.add(GraphTask::new("b", failing("b", 5, 99)).after(a));
    let c = g.add(step("c", 5).after(b));
    let run = rt.graphs().start(g).await.unwrap();
    run.wait().await;
    let refused = |e: Error, task: &str, status: &str| match e {
        Error::TaskNotFailed { task: t, status: s } => {
            assert_eq!((t.as_str(), s.as_str()), (task, status));
        }
        other => panic!("expected TaskNotFailed, got {other:?}"),
    };
    refused(run.retry(a).await.unwrap_err(), "a", "succeeded");
    refused(run.retry(c).await.unwrap_err(), "c", "skipped");
    let mut other = TaskGraph::new();
    let foreign = other.add(step("z", 5));
    assert!(matches!(
        run.retry(foreign).await.unwrap_err(),
        Error::UnknownTask(k) if k == foreign
    ));
    // Nothing changed.
    assert!(run.is_finished());
    assert_eq!(run.status(c), Some(TaskStatus::Skipped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_a_store_finishes_the_graph_again_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("ready");
    let check = format!("test -f {}", marker.display());
    let c_run = {
        let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
        let mut g = TaskGraph::new();
        let b = g.add(GraphTask::new("b", Task::shell(&check)));
        let c = g.add(GraphTask::new("c", Task::shell("echo done")).after(b));
        let run = orch.graphs().start(g).await.unwrap();
        assert_eq!(run.wait().await.get(c).unwrap().status, TaskStatus::Skipped);
        std::fs::write(&marker, b"").unwrap();
        run.retry(b).await.unwrap();
        let report = run.wait().await;
        assert!(report.success(), "{report:?}");
        let c_run = report.get(c).unwrap().run_id.unwrap();
        orch.shutdown().await.unwrap();
        c_run
    };
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    // Finished again, durably: nothing to adopt.
    assert!(
        orch.graphs().list().is_empty(),
        "{:?}",
        orch.graphs().list()
    );
    let stored = orch.observe().stored_run(c_run).expect("c's run is stored");
    assert_eq!(stored.info.status, RunStatus::Succeeded);
    orch.shutdown().await.unwrap();
}
