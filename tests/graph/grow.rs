//! Graphs that grow (`GraphRun::add`, `extend`): tasks added to a running
//! graph and to a finished one, dependencies on tasks of other graphs and
//! on runs, and what an add refuses.

use taskorch::RunId;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_task_added_to_a_running_graph_runs_after_its_dependency() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(step("a", 100));
    let run = rt.graphs().start(g).await.unwrap();
    wait_for("a to start", || probe.calls("a") == 1).await;

    let c = run.add(step("c", 5).after(a)).await.unwrap();
    assert_eq!(run.len(), 2);
    assert_eq!(run.key("c"), Some(c));
    assert_eq!(run.name(c), Some("c"));
    assert_eq!(run.status(c), Some(TaskStatus::Pending));
    // Two more at once, one after the other.
    let mut more = TaskGraph::new();
    let d = more.add(step("d", 5).after(c));
    more.add(step("e", 5).after(d).after(a));
    let keys = run.extend(more).await.unwrap();
    assert_eq!(keys.len(), 2);

    let report = run.wait().await;
    assert!(report.success(), "{report:#?}");
    assert_eq!(report.stats.total, 4);
    assert_eq!(probe.started(), ["a", "c", "d", "e"]);
    let (_, a_end) = probe.span("a").unwrap();
    let (c_start, c_end) = probe.span("c").unwrap();
    let (d_start, _) = probe.span("d").unwrap();
    assert!(a_end < c_start && c_end < d_start);
    assert_eq!(report.get(keys[1]).unwrap().name, "e");
}

#[tokio::test(start_paused = true)]
async fn adding_to_a_finished_graph_reopens_it_and_a_failed_dependency_skips_the_new_task() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(step("a", 5));
    let b = g.add(GraphTask::new("b", failing("b", 5, 99)));
    let run = rt.graphs().start(g).await.unwrap();
    let first = run.wait().await;
    assert_eq!(first.stats.total, 2);
    assert!(run.is_finished());

    // After a task that succeeded: satisfied at once.
    let x = run.add(step("x", 5).after(a)).await.unwrap();
    // After one that failed: skipped, naming it.
    let y = run.add(step("y", 5).after(b)).await.unwrap();
    let report = run.wait().await;
    assert_eq!(report.stats.total, 4);
    assert_eq!(report.get(x).unwrap().status, TaskStatus::Succeeded);
    let skipped = report.get(y).unwrap();
    assert_eq!(skipped.status, TaskStatus::Skipped);
    assert_eq!(skipped.blocked_by, Some(b));
    assert_eq!(probe.calls("y"), 0);
    assert_eq!(probe.calls("x"), 1);
    assert_eq!(probe.calls("a"), 1, "nothing that ran runs again");
}

#[tokio::test(start_paused = true)]
async fn a_task_waits_for_a_task_of_another_graph_and_for_a_run() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut first = TaskGraph::new();
    let slow = first.add(step("slow", 200));
    let first = rt.graphs().start(first).await.unwrap();
    let launched = rt.launch(work("launched", 300)).await.unwrap();

    let mut second = TaskGraph::new();
    let gather = second.add(step("gather", 5).after(slow).after_run(launched));
    let second = rt.graphs().start(second).await.unwrap();
    // Added later, after a run that already succeeded: satisfied at once.
    let report = second.wait().await;
    assert!(report.success(), "{report:#?}");
    let (gather_start, _) = probe.span("gather").unwrap();
    let (_, slow_end) = probe.span("slow").unwrap();
    let (_, launched_end) = probe.span("launched").unwrap();
    assert!(slow_end < gather_start && launched_end < gather_start);
    assert!(first.wait().await.success());

    let late = second
        .add(
            step("late", 5)
                .after_run(launched)
                .after(slow)
                .after(gather),
        )
        .await
        .unwrap();
    assert_eq!(
        second.wait().await.get(late).unwrap().status,
        TaskStatus::Succeeded
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_or_a_task_elsewhere_that_failed_skips_the_dependent() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let failed = rt.launch(failing("bad", 5, 99)).await.unwrap();
    let mut other = TaskGraph::new();
    let broken = other.add(GraphTask::new("broken", failing("broken", 5, 99)));
    let other = rt.graphs().start(other).await.unwrap();
    other.wait().await;

    let mut g = TaskGraph::new();
    let a = g.add(step("a", 5).after_run(failed));
    let b = g.add(step("b", 5).after(a));
    let c = g.add(step("c", 5).after(broken));
    let free = g.add(step("free", 5));
    let report = rt.graphs().run(g).await.unwrap();
    let a = report.get(a).unwrap();
    assert_eq!(a.status, TaskStatus::Skipped);
    assert_eq!(
        a.error_message.as_deref(),
        Some(format!("not run: run {failed} failed").as_str())
    );
    assert_eq!(report.get(b).unwrap().status, TaskStatus::Skipped);
    let c = report.get(c).unwrap();
    assert_eq!(c.status, TaskStatus::Skipped);
    assert_eq!(c.blocked_by, Some(broken), "names the other graph's task");
    assert_eq!(report.get(free).unwrap().status, TaskStatus::Succeeded);
    assert_eq!(probe.calls("a") + probe.calls("b") + probe.calls("c"), 0);
}

#[tokio::test(start_paused = true)]
async fn an_add_refuses_bad_tasks_and_changes_nothing() {
    let rt = start_runtime().await;
    let _probe = Probe::register(&rt);
    let gate = register_gate(&rt, "gate");
    let mut g = TaskGraph::new();
    let a = g.add(GraphTask::new("a", Task::action("gate", json!(null))));
    let run = rt.graphs().start(g).await.unwrap();

    let err = run.add(step("a", 5)).await.unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateTask(name) if name == "a"),
        "{err:?}"
    );

    let unknown = RunId::new();
    let err = run.add(step("u", 5).after_run(unknown)).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownRunDependency { task, run } if task == "u" && *run == unknown),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("task \"u\" depends on run {unknown}, which this runtime does not know")
    );

    let mut never = TaskGraph::new();
    let foreign = never.add(step("x", 5));
    let err = run.add(step("f", 5).after(foreign)).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownDependency { task, dependency } if task == "f" && *dependency == foreign),
        "{err:?}"
    );

    let mut cyclic = TaskGraph::new();
    let p = cyclic.add(step("p", 5).after(a));
    let q = cyclic.add(step("q", 5).after(p));
    cyclic.add_dependency(p, q).unwrap();
    let err = run.extend(cyclic).await.unwrap_err();
    assert!(
        matches!(&err, Error::DependencyCycle { path } if path == &["p", "q", "p"]),
        "{err:?}"
    );

    let err = run
        .add(GraphTask::new(
            "n",
            Task::action("no-such-action", json!(1)),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "no-such-action"),
        "{err:?}"
    );
    let err = run
        .add(GraphTask::new("q", work("q", 5).queue("undeclared")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownQueue(name) if name == "undeclared"),
        "{err:?}"
    );

    assert_eq!(run.len(), 1, "nothing was added");
    gate.add_permits(1);
    assert!(run.wait().await.success());
}
