//! Cancel, wait time-outs and shutdown: what stops, and no process left behind.

use super::*;

#[tokio::test]
async fn cancel_stops_a_task_and_its_dependents_and_the_rest_goes_on() {
    let rt = start_runtime().await;
    let gate = register_gate(&rt, "hold");
    Probe::register(&rt);
    let mut g = TaskGraph::new();
    let held = g.add(hold("held"));
    let child = g.add(step("child", 0).after(held));
    let grandchild = g.add(step("grandchild", 0).after(child));
    let other = g.add(hold("other"));
    let run = rt.graphs().start(g).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            run.tasks_by_status(TaskStatus::Running).len() == 2
        })
        .await
    );
    assert_eq!(run.status(child), Some(TaskStatus::Pending));
    let status = rt.system_status().await.unwrap();
    assert_eq!(
        status.child("batch").unwrap().detail.as_deref(),
        Some("0 batches and 1 graphs in flight")
    );
    run.cancel(held).unwrap();
    assert_eq!(run.status(child), Some(TaskStatus::Cancelled));
    assert_eq!(run.status(grandchild), Some(TaskStatus::Cancelled));
    // Released only once the cancel took effect: a run whose action
    // finishes at the same instant may still win the race and succeed.
    assert!(
        wait_until(Duration::from_secs(10), || {
            run.status(held) == Some(TaskStatus::Cancelled)
        })
        .await
    );
    gate.add_permits(1);
    let report = run
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect("every task ends");
    assert_eq!(report.get(held).unwrap().status, TaskStatus::Cancelled);
    assert_eq!(
        report.get(held).unwrap().error_kind.as_deref(),
        Some("cancelled")
    );
    assert_eq!(report.get(other).unwrap().status, TaskStatus::Succeeded);
    let run_id = report.get(held).unwrap().run_id.unwrap();
    assert_eq!(rt.status(run_id), Some(RunStatus::Cancelled));
    assert_eq!(report.stats.cancelled, 3);

    let mut elsewhere = TaskGraph::new();
    let foreign = elsewhere.add(step("x", 0));
    assert!(matches!(run.cancel(foreign), Err(Error::UnknownTask(k)) if k == foreign));
    assert_eq!(run.status(foreign), None);
}

#[tokio::test]
async fn wait_timeout_then_cancel_all() {
    let rt = start_runtime().await;
    register_gate(&rt, "hold");
    let mut g = TaskGraph::new();
    let a = g.add(hold("a"));
    g.add(hold("b").after(a));
    let run = rt.graphs().start(g).await.unwrap();
    let err = run
        .wait_timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { run: None, after } if after == Duration::from_millis(50))
    );
    assert!(!run.is_finished());
    run.cancel_all();
    let report = run
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect("every task ends");
    assert_eq!(report.stats.cancelled, 2);
    assert!(run.is_finished());
}

#[tokio::test]
async fn a_cancelled_process_task_leaves_no_process_behind() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut g = TaskGraph::new();
    let long = g.add(GraphTask::new(
        "long",
        Task::shell(format!(
            "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
            p = pids.display()
        )),
    ));
    let after = g.add(GraphTask::new("after", Task::command("true")).after(long));
    let run = rt.graphs().start(g).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    run.cancel(long).unwrap();
    let report = run
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect("bounded");
    assert_all_dead(&pids).await;
    assert_eq!(report.get(long).unwrap().status, TaskStatus::Cancelled);
    assert_eq!(report.get(after).unwrap().status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn shutdown_interrupts_the_graph_and_leaves_no_process_behind() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut g = TaskGraph::new().limit(1);
    let long = g.add(
        GraphTask::new(
            "long",
            Task::shell(format!(
                "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
                p = pids.display()
            )),
        )
        .priority(Priority::Critical),
    );
    let queued = g.add(GraphTask::new("queued", Task::command("true")));
    let run = rt.graphs().start(g).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    tokio::time::timeout(Duration::from_secs(10), rt.shutdown())
        .await
        .expect("bounded")
        .unwrap();
    assert_all_dead(&pids).await;
    let report = run
        .wait_timeout(Duration::from_secs(5))
        .await
        .expect("finished");
    let r = report.get(long).unwrap();
    assert_eq!(r.status, TaskStatus::Interrupted);
    assert_eq!(r.error_kind.as_deref(), Some("shutting_down"));
    assert_eq!(report.get(queued).unwrap().status, TaskStatus::Interrupted);
    assert_eq!(report.stats.interrupted, 2);
    let err = rt.graphs().start(TaskGraph::new()).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown));
}
