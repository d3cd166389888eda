//! Queries by status and tag, failed process tasks, the output budget.

use super::*;

#[tokio::test(start_paused = true)]
async fn queries_by_status_and_tag_with_metadata() {
    let rt = start_runtime().await;
    Probe::register(&rt);
    let mut g = TaskGraph::new();
    let a = g.add(
        step("a", 5)
            .tags(["build", "fast"])
            .metadata(json!({"owner": "ci"})),
    );
    let b = g.add(
        GraphTask::new("b", failing("b", 5, 1))
            .tag("build")
            .after(a),
    );
    let c = g.add(step("c", 5).after(b));
    let run = rt.graphs().start(g).await.unwrap();
    assert_eq!(run.tasks_by_tag("build"), [a, b]);
    assert_eq!(run.tasks_by_tag("fast"), [a]);
    assert!(run.tasks_by_tag("none").is_empty());
    assert_eq!(run.key("c"), Some(c));
    assert_eq!(run.name(b), Some("b"));
    let report = run.wait().await;
    assert_eq!(run.tasks_by_status(TaskStatus::Succeeded), [a]);
    assert_eq!(run.tasks_by_status(TaskStatus::Failed), [b]);
    assert_eq!(run.tasks_by_status(TaskStatus::Skipped), [c]);
    let ra = run.result(a).unwrap();
    assert_eq!(ra.metadata, json!({"owner": "ci"}));
    assert_eq!(ra.tags, ["build", "fast"]);
    assert!(ra.started.is_some() && ra.finished.is_some() && ra.duration.is_some());
    let stats = run.stats();
    assert_eq!(stats, report.stats);
    assert_eq!(
        (stats.total, stats.completed, stats.failed, stats.skipped),
        (3, 1, 1, 1)
    );
    let snapshot = run.snapshot();
    assert_eq!(snapshot.tasks.len(), 3);
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: taskorch::graph::GraphState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot, "the state is plain data");
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_task_with_its_output() {
    let rt = start_runtime().await;
    let mut g = TaskGraph::new();
    let bad = g.add(GraphTask::new(
        "bad",
        Task::shell("echo out; echo 'disk full' >&2; exit 3"),
    ));
    let report = rt.graphs().run(g).await.unwrap();
    let r = report.get(bad).unwrap();
    assert_eq!(r.status, TaskStatus::Failed);
    assert_eq!(r.error_kind.as_deref(), Some("exit_code"));
    assert_eq!(
        r.error_message.as_deref(),
        Some("exited with code 3: disk full")
    );
    let out = r.output.as_ref().unwrap();
    assert_eq!(
        (out.exit_code, out.stdout_str().as_str()),
        (Some(3), "out\n")
    );
}

#[tokio::test]
async fn a_graphs_outputs_stay_within_the_output_budget() {
    const TASKS: usize = 12;
    const BYTES: usize = 10_000;
    // Room for about two tasks' output (each run also keeps its line ring).
    let budget = 5 * BYTES;
    let rt = start_with(Config {
        output_budget: budget,
        ..fast_config()
    })
    .await;
    // A chain, so the last task is the one that finished last.
    let mut g = TaskGraph::new();
    let mut keys = Vec::new();
    for i in 0..TASKS {
        let task = GraphTask::new(
            format!("t{i}"),
            Task::shell(format!("printf '%0{BYTES}d' 0")),
        );
        let task = match keys.last() {
            Some(&prev) => task.after(prev),
            None => task,
        };
        keys.push(g.add(task));
    }
    let run = rt.graphs().start(g).await.unwrap();
    let report = run.wait().await;
    assert!(report.success(), "{report:?}");
    // What the graph holds besides its runs' records, plus what the report
    // reads back from them, is within the budget: not TASKS x BYTES.
    let reported: usize = report
        .tasks
        .iter()
        .filter_map(|t| t.output.as_ref())
        .map(|out| out.held_bytes())
        .sum();
    let held = run.held_output_bytes();
    assert!(
        held + reported <= budget,
        "graph holds {held} bytes, its runs {reported}; budget {budget}"
    );
    // The newest output is whole; the oldest was reclaimed, and says so.
    let last = report.get(keys[TASKS - 1]).unwrap().output.clone().unwrap();
    assert_eq!(last.stdout.len(), BYTES);
    let first = report.get(keys[0]).unwrap().output.clone().unwrap();
    assert!(
        first.stdout.is_empty() && first.stdout_truncated,
        "{first:?}"
    );
    assert_eq!(first.stdout_dropped, BYTES as u64);
    // The snapshot reads the same bytes.
    let snapshot = run.snapshot();
    let last_snap = snapshot.tasks[TASKS - 1].output.as_deref().unwrap();
    assert_eq!(last_snap.stdout, last.stdout);
}
