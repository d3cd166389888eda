//! Task graphs: `orch.graphs().start(graph)` / `orch.graphs().run(graph)`.
//! In-process actions on paused time for the scheduling rules; real
//! processes for cancel, shutdown and orphans.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::graph::{GraphTask, Resource, ResourceId, TaskGraph, TaskStatus};
use taskorch::{Config, Error, Orchestrator, Pattern, Priority, RunStatus, Task};

use crate::common::*;

/// One call of the "work" action.
#[derive(Debug, Clone)]
pub struct Span {
    pub task: String,
    pub attempt: u32,
    pub start: u64,
    pub end: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Log {
    seq: u64,
    pub spans: Vec<Span>,
    calls: HashMap<String, u32>,
    now: usize,
    pub peak: usize,
}

/// Registers the action "work": input `{"task": name, "ms": n,
/// "fail_first": k}`. It records its start and end (a logical clock:
/// every start and end takes the next number), sleeps `ms` (paused time in
/// these tests), and fails its first `k` calls for that task.
#[derive(Clone, Default)]
pub struct Probe(pub Arc<Mutex<Log>>);

impl Probe {
    pub fn register(orch: &Orchestrator) -> Probe {
        let probe = Probe::default();
        let log = Arc::clone(&probe.0);
        orch.register_action("work", move |input: Value| {
            let log = Arc::clone(&log);
            async move {
                let task = input["task"].as_str().unwrap_or_default().to_string();
                let ms = input["ms"].as_u64().unwrap_or(0);
                let fail_first = input["fail_first"].as_u64().unwrap_or(0) as u32;
                let (index, attempt) = {
                    let mut log = log.lock().unwrap();
                    log.seq += 1;
                    let attempt = {
                        let calls = log.calls.entry(task.clone()).or_default();
                        *calls += 1;
                        *calls
                    };
                    let start = log.seq;
                    log.now += 1;
                    log.peak = log.peak.max(log.now);
                    log.spans.push(Span {
                        task: task.clone(),
                        attempt,
                        start,
                        end: None,
                    });
                    (log.spans.len() - 1, attempt)
                };
                // Ends the span also when the call is dropped (time-out,
                // cancel): a claim is held until then.
                let _end = SpanEnd { log, index };
                // The simulated work: the tests that run it are on paused
                // time, so this advances the virtual clock, not the wall's.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                drop(_end);
                if attempt <= fail_first {
                    Err(format!("{task}: planned failure {attempt}"))
                } else {
                    Ok(json!(attempt))
                }
            }
        });
        probe
    }

    /// Task names in the order their first attempt started.
    pub fn started(&self) -> Vec<String> {
        let log = self.0.lock().unwrap();
        log.spans
            .iter()
            .filter(|s| s.attempt == 1)
            .map(|s| s.task.clone())
            .collect()
    }

    /// First start and last end of `task`.
    pub fn span(&self, task: &str) -> Option<(u64, u64)> {
        let log = self.0.lock().unwrap();
        let spans: Vec<&Span> = log.spans.iter().filter(|s| s.task == task).collect();
        let start = spans.iter().map(|s| s.start).min()?;
        let end = spans.iter().filter_map(|s| s.end).max()?;
        Some((start, end))
    }

    /// How many times `task`'s action was called.
    pub fn calls(&self, task: &str) -> u32 {
        let log = self.0.lock().unwrap();
        log.calls.get(task).copied().unwrap_or(0)
    }

    pub fn peak(&self) -> usize {
        self.0.lock().unwrap().peak
    }
}

struct SpanEnd {
    log: Arc<Mutex<Log>>,
    index: usize,
}

impl Drop for SpanEnd {
    fn drop(&mut self) {
        let mut log = self.log.lock().unwrap();
        log.seq += 1;
        log.spans[self.index].end = Some(log.seq);
        log.now -= 1;
    }
}

pub fn work(task: &str, ms: u64) -> Task {
    Task::action("work", json!({ "task": task, "ms": ms }))
}

pub fn failing(task: &str, ms: u64, fail_first: u32) -> Task {
    Task::action(
        "work",
        json!({ "task": task, "ms": ms, "fail_first": fail_first }),
    )
}

fn step(name: &str, ms: u64) -> GraphTask {
    GraphTask::new(name, work(name, ms))
}

fn hold(name: &str) -> GraphTask {
    GraphTask::new(name, Task::action("hold", json!(name)))
}

#[tokio::test(start_paused = true)]
async fn build_then_test_and_lint_in_parallel_then_deploy() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let build = g.add(step("build", 30));
    let test = g.add(step("test", 50).after(build));
    let lint = g.add(step("lint", 20).after(build));
    let deploy = g.add(step("deploy", 10).depends_on([test, lint]));

    let report = rt.graphs().run(g).await.unwrap();
    assert!(report.success(), "{report:#?}");
    assert_eq!(report.stats.completed, 4);
    let (b, t, l, d) = (
        probe.span("build").unwrap(),
        probe.span("test").unwrap(),
        probe.span("lint").unwrap(),
        probe.span("deploy").unwrap(),
    );
    assert!(t.0 > b.1 && l.0 > b.1, "test and lint after build");
    assert!(t.0 < l.1 && l.0 < t.1, "test and lint overlap");
    assert!(d.0 > t.1 && d.0 > l.1, "deploy after both");

    let deployed = report.get(deploy).unwrap();
    assert_eq!(deployed.name, "deploy");
    assert_eq!(deployed.attempts, 1);
    assert_eq!(deployed.output.as_ref().unwrap().value, Some(json!(1)));
    let run = rt.find_run(deployed.run_id.unwrap()).unwrap();
    assert_eq!(
        (run.name.as_str(), run.pattern, run.status),
        ("deploy", Pattern::Concurrent, RunStatus::Succeeded)
    );
    assert_eq!(rt.runs().len(), 4, "one run per task");
    let s = report.stats;
    assert_eq!(s.executed, 4);
    // Run times are wall-clock (std), not the paused tokio clock.
    assert!(s.total_exec > Duration::ZERO, "{s:?}");
    assert_eq!(s.avg_exec, s.total_exec / 4);
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_its_retries_skips_everything_downstream_naming_it() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let build = g.add(
        GraphTask::new("build", failing("build", 5, 10))
            .retries(2)
            .retry_delay(Duration::from_millis(100)),
    );
    let test = g.add(step("test", 5).after(build));
    let deploy = g.add(step("deploy", 5).after(test));
    let docs = g.add(step("docs", 5));

    let report = rt.graphs().run(g).await.unwrap();
    let built = report.get(build).unwrap();
    assert_eq!(built.status, TaskStatus::Failed);
    assert_eq!(built.attempts, 3, "1 + 2 retries");
    assert_eq!(built.error_kind.as_deref(), Some("action_error"));
    assert_eq!(
        built.error_message.as_deref(),
        Some("build: planned failure 3")
    );
    for key in [test, deploy] {
        let r = report.get(key).unwrap();
        assert_eq!(r.status, TaskStatus::Skipped);
        assert_eq!(
            r.blocked_by,
            Some(build),
            "the root cause, also transitively"
        );
        assert_eq!(r.error_kind.as_deref(), Some("skipped"));
        assert_eq!(
            r.error_message.as_deref(),
            Some("not run: \"build\" failed")
        );
        assert_eq!((r.attempts, r.run_id), (0, None));
    }
    assert_eq!(report.get(docs).unwrap().status, TaskStatus::Succeeded);
    assert_eq!(
        probe.started(),
        ["build", "docs"],
        "skipped tasks never ran"
    );
    assert_eq!(
        (
            report.stats.failed,
            report.stats.skipped,
            report.stats.completed
        ),
        (1, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn retries_until_success_and_time_outs() {
    let rt = start_runtime().await;
    Probe::register(&rt);
    let mut g = TaskGraph::new();
    let flaky = g.add(
        GraphTask::new("flaky", failing("flaky", 5, 2))
            .retries(2)
            .retry_delay(Duration::from_millis(10)),
    );
    let after_flaky = g.add(step("after-flaky", 5).after(flaky));
    let slow = g.add(GraphTask::new("slow", work("slow", 10_000)).timeout(Duration::from_secs(1)));
    let after_slow = g.add(step("after-slow", 5).after(slow));

    let report = rt.graphs().run(g).await.unwrap();
    let r = report.get(flaky).unwrap();
    assert_eq!((r.status, r.attempts), (TaskStatus::Succeeded, 3));
    assert_eq!(
        report.get(after_flaky).unwrap().status,
        TaskStatus::Succeeded
    );
    let r = report.get(slow).unwrap();
    assert_eq!(r.status, TaskStatus::TimedOut);
    assert_eq!(r.error_kind.as_deref(), Some("timed_out"));
    let r = report.get(after_slow).unwrap();
    assert_eq!(r.status, TaskStatus::Skipped);
    assert_eq!(
        r.error_message.as_deref(),
        Some("not run: \"slow\" timed out")
    );
    assert_eq!((report.stats.failed, report.stats.timed_out), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn ready_tasks_start_by_priority() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new().limit(1);
    for (name, p) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("critical", Priority::Critical),
        ("high", Priority::High),
        ("critical-2", Priority::Critical),
    ] {
        g.add(step(name, 10).priority(p));
    }
    assert!(rt.graphs().run(g).await.unwrap().success());
    assert_eq!(
        probe.started(),
        ["critical", "critical-2", "high", "normal", "low"]
    );
    assert_eq!(probe.peak(), 1, "limit 1");
}

#[tokio::test(start_paused = true)]
async fn aging_lets_a_low_task_through_a_stream_of_critical_ones() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let aging = 2;
    let mut g = TaskGraph::new().limit(1).aging(aging);
    g.add(step("low", 10).priority(Priority::Low));
    // A chain of critical tasks: each becomes ready when the one before
    // it ends, so without aging "low" would wait for all of them.
    let mut last = g.add(step("c0", 10).priority(Priority::Critical));
    for i in 1..20 {
        last = g.add(
            step(&format!("c{i}"), 10)
                .priority(Priority::Critical)
                .after(last),
        );
    }
    assert!(rt.graphs().run(g).await.unwrap().success());
    let order = probe.started();
    let low_at = order.iter().position(|t| t == "low").unwrap();
    // "low" became ready first (rank 1); the i-th critical one ranks
    // `(i + 2) - 3 * aging`, so it passes "low" only while that is below 1.
    assert_eq!(low_at, 3 * aging as usize - 1, "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn the_global_cap_holds_and_priorities_hold_under_it() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    let mut expected = Vec::new();
    for i in 0..8 {
        let p = [Priority::Low, Priority::High][i % 2];
        g.add(step(&format!("t{i}"), 10).priority(p));
    }
    for i in (1..8).step_by(2) {
        expected.push(format!("t{i}"));
    }
    for i in (0..8).step_by(2) {
        expected.push(format!("t{i}"));
    }
    assert!(rt.graphs().run(g).await.unwrap().success());
    assert_eq!(probe.peak(), 1);
    assert_eq!(probe.started(), expected);
}

#[tokio::test(start_paused = true)]
async fn write_claims_never_overlap_and_read_claims_share() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    // Readers first: a waiting writer holds back the readers queued after
    // it (so writers are not starved), which would keep these apart.
    for i in 0..4 {
        g.add(step(&format!("reader{i}"), 10).resource(Resource::read("db")));
    }
    for i in 0..4 {
        g.add(step(&format!("writer{i}"), 10).resource(Resource::write("db")));
    }
    g.add(step("exclusive", 10).resource(Resource::exclusive("db")));
    assert!(rt.graphs().run(g).await.unwrap().success());

    let spans: Vec<(String, (u64, u64))> = probe
        .started()
        .into_iter()
        .map(|t| {
            let span = probe.span(&t).unwrap();
            (t, span)
        })
        .collect();
    let overlap = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
    let mut readers_overlapped = false;
    for (i, (a, sa)) in spans.iter().enumerate() {
        for (b, sb) in &spans[i + 1..] {
            let sole = !a.starts_with("reader") || !b.starts_with("reader");
            if sole {
                assert!(!overlap(*sa, *sb), "{a} and {b} overlapped");
            } else {
                readers_overlapped |= overlap(*sa, *sb);
            }
        }
    }
    assert!(readers_overlapped, "readers share the lock: {spans:?}");
    assert_eq!(
        rt.graphs().usage(&ResourceId::lock("db")),
        Default::default()
    );
}

#[tokio::test(start_paused = true)]
async fn claims_in_opposite_orders_never_deadlock_and_counted_resources_fit() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    rt.graphs()
        .set_capacity(ResourceId::api("github"), 2)
        .unwrap();
    rt.graphs().set_capacity(ResourceId::cpu(), 4).unwrap();
    let mut g = TaskGraph::new();
    for i in 0..10 {
        let (x, y) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        g.add(
            step(&format!("ab{i}"), 10)
                .resource(Resource::write(x))
                .resource(Resource::write(y)),
        );
        g.add(step(&format!("api{i}"), 10).resource(Resource::api("github", 1)));
        g.add(step(&format!("cpu{i}"), 10).resource(Resource::cpu(3)));
    }
    let report = tokio::time::timeout(Duration::from_secs(60), rt.graphs().run(g))
        .await
        .expect("no deadlock")
        .unwrap();
    assert!(report.success());
    let max_overlap = |prefix: &str| {
        let spans: Vec<(u64, u64)> = probe
            .started()
            .iter()
            .filter(|t| t.starts_with(prefix))
            .map(|t| probe.span(t).unwrap())
            .collect();
        spans
            .iter()
            .map(|s| spans.iter().filter(|o| o.0 <= s.0 && s.0 < o.1).count())
            .max()
            .unwrap()
    };
    assert_eq!(max_overlap("ab"), 1);
    assert_eq!(max_overlap("api"), 2, "the quota, fully used");
    assert_eq!(max_overlap("cpu"), 1, "3 + 3 slots > 4");
}

#[tokio::test(start_paused = true)]
async fn claims_hold_across_graphs() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let graph = |prefix: &str| {
        let mut g = TaskGraph::new();
        for i in 0..3 {
            g.add(step(&format!("{prefix}{i}"), 10).resource(Resource::write("db")));
        }
        g
    };
    let (a, b) = tokio::join!(rt.graphs().run(graph("a")), rt.graphs().run(graph("b")));
    assert!(a.unwrap().success() && b.unwrap().success());
    let spans: Vec<(u64, u64)> = probe
        .started()
        .iter()
        .map(|t| probe.span(t).unwrap())
        .collect();
    for (i, x) in spans.iter().enumerate() {
        for y in &spans[i + 1..] {
            assert!(x.1 < y.0 || y.1 < x.0, "{spans:?}");
        }
    }
}

#[tokio::test]
async fn bad_graphs_are_refused_before_anything_runs() {
    let rt = start_runtime().await;
    Probe::register(&rt);

    let mut g = TaskGraph::new();
    let a = g.add(step("a", 0));
    let b = g.add(step("b", 0).after(a));
    g.add_dependency(a, b).unwrap();
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::DependencyCycle { path } if path == &["a", "b", "a"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "dependency cycle in task graph: a -> b -> a (each depends on the next)"
    );

    let mut other = TaskGraph::new();
    let foreign = other.add(step("x", 0));
    let mut g = TaskGraph::new();
    g.add(step("a", 0).after(foreign));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownDependency { task, dependency } if task == "a" && *dependency == foreign),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "task \"a\" depends on task #0 of graph {}, which is not a task of this graph",
            other.id()
        )
    );

    let mut g = TaskGraph::new();
    g.add(step("a", 0));
    g.add(step("a", 0));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateTask(name) if name == "a"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a task named \"a\" is already in this graph"
    );

    let err = rt
        .graphs()
        .start(TaskGraph::new().limit(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(why) if why == "graph limit must be at least 1 (got 0)"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(step("ok", 0));
    g.add(GraphTask::new(
        "missing",
        Task::command("no-such-program-xyz"),
    ));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(GraphTask::new("a", Task::action("nope", json!(null))));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(step("big", 0).resource(Resource::api("github", 5)));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid task: task \"big\" claims 5 units of API \"github\", more than its capacity of 1"
    );

    let mut g = TaskGraph::new();
    g.add(step("mem", 0).resource(Resource::memory(1 << 30)));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("no capacity")),
        "{err:?}"
    );
    assert!(matches!(
        rt.graphs().set_capacity(ResourceId::lock("db"), 2),
        Err(Error::InvalidConfig(_))
    ));

    assert!(rt.runs().is_empty(), "nothing ran");
}

#[tokio::test]
async fn an_empty_graph_finishes_at_once() {
    let rt = start_runtime().await;
    let report = rt.graphs().run(TaskGraph::new()).await.unwrap();
    assert_eq!(report.stats.total, 0);
    assert!(report.success());
}

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
