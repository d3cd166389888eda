//! Priorities, aging, and priorities under the global cap.

use super::*;

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
