//! Dependencies, failures that skip what is downstream, retries and time-outs.

use super::*;

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
    let run = rt.observe().find_run(deployed.run_id.unwrap()).unwrap();
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
