//! Graph tasks under the job model of every run: their labels are
//! queryable, their key deduplicates with live runs, and they wait for
//! their named queue's limits and pause like any run.

use taskorch::{QueueSpec, RunQuery};

use super::*;

#[tokio::test(start_paused = true)]
async fn graph_task_runs_carry_their_labels_and_priority() {
    let rt = start_runtime().await;
    let _probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(GraphTask::new(
        "a",
        work("a", 5).label("bot", "b-7").priority(Priority::High),
    ));
    g.add(step("b", 5));
    let report = rt.graphs().run(g).await.unwrap();
    let run = report.get(a).unwrap().run_id.unwrap();
    let found = rt.observe().find_runs(&RunQuery::new().label("bot", "b-7"));
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [run]);
    assert_eq!(found[0].labels.get("bot").map(String::as_str), Some("b-7"));
}

#[tokio::test(start_paused = true)]
async fn a_graph_task_whose_key_is_live_follows_that_run() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let gate = register_gate(&rt, "gate");
    let live = rt
        .launch(Task::action("gate", json!("shared")).key("nightly-build"))
        .await
        .unwrap();
    let mut g = TaskGraph::new();
    let build = g.add(GraphTask::new(
        "build",
        work("build", 5).key("nightly-build"),
    ));
    let after = g.add(step("after", 5).after(build));
    let run = rt.graphs().start(g).await.unwrap();
    wait_for("build to follow the live run", || {
        run.status(build) == Some(TaskStatus::Running)
    })
    .await;
    assert_eq!(run.result(build).unwrap().run_id, Some(live));
    gate.add_permits(1);
    let report = run.wait().await;
    assert!(report.success(), "{report:#?}");
    assert_eq!(probe.calls("build"), 0, "the existing run answered for it");
    assert_eq!(
        report.get(build).unwrap().output.as_ref().unwrap().value,
        Some(json!("shared"))
    );
    assert_eq!(report.get(after).unwrap().status, TaskStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_graph_task_waits_for_its_paused_queue_while_the_others_run() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    rt.queue(QueueSpec::new("slow-lane")).await.unwrap();
    rt.pause_queue("slow-lane").await.unwrap();
    let mut g = TaskGraph::new();
    let held = g.add(GraphTask::new("held", work("held", 5).queue("slow-lane")));
    let free = g.add(step("free", 5));
    let after = g.add(step("after", 5).after(free));
    let run = rt.graphs().start(g).await.unwrap();
    wait_for("the default queue's tasks to finish", || {
        run.status(after) == Some(TaskStatus::Succeeded)
    })
    .await;
    assert_eq!(run.status(held), Some(TaskStatus::Ready));
    assert_eq!(probe.calls("held"), 0);
    rt.resume_queue("slow-lane").await.unwrap();
    let report = run.wait().await;
    assert!(report.success(), "{report:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_queue_limit_holds_for_graph_tasks() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    rt.queue(QueueSpec::new("one-at-a-time").concurrency(1))
        .await
        .unwrap();
    let mut g = TaskGraph::new();
    for i in 0..4 {
        let name = format!("t{i}");
        g.add(GraphTask::new(
            &name,
            work(&name, 10).queue("one-at-a-time"),
        ));
    }
    let report = rt.graphs().run(g).await.unwrap();
    assert!(report.success(), "{report:#?}");
    assert_eq!(probe.peak(), 1, "the queue's limit, not the graph's");
}

#[tokio::test(start_paused = true)]
async fn a_keyed_task_retried_by_hand_runs_again() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let flaky = g.add(GraphTask::new(
        "flaky",
        failing("flaky", 5, 1).key("flaky-job"),
    ));
    let run = rt.graphs().start(g).await.unwrap();
    let first = run.wait().await;
    assert_eq!(first.get(flaky).unwrap().status, TaskStatus::Failed);
    // Its failed run still holds the key (the key window): the retry
    // must not be answered by it.
    run.retry(flaky).await.unwrap();
    let report = run.wait().await;
    assert_eq!(report.get(flaky).unwrap().status, TaskStatus::Succeeded);
    assert_eq!(probe.calls("flaky"), 2);
    assert_ne!(
        report.get(flaky).unwrap().run_id,
        first.get(flaky).unwrap().run_id
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_priority_ranks_a_graph_task_for_its_permit() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let probe = Probe::register(&rt);
    let gate = register_gate(&rt, "gate");
    // The one permit is held; a flood of Normal launches waits for it.
    let holder = rt.launch(Task::action("gate", json!(null))).await.unwrap();
    wait_for_status(&rt, holder, RunStatus::Running).await;
    for i in 0..5 {
        let name = format!("normal{i}");
        rt.launch(work(&name, 1)).await.unwrap();
    }
    let mut g = TaskGraph::new();
    g.add(GraphTask::new(
        "urgent",
        work("urgent", 1).priority(Priority::High),
    ));
    let run = rt.graphs().start(g).await.unwrap();
    wait_for("the graph task to wait for its permit", || {
        run.stats().ready == 1
    })
    .await;
    gate.add_permits(1);
    assert!(run.wait().await.success());
    assert_eq!(probe.started().first().map(String::as_str), Some("urgent"));
}
