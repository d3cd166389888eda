//! Runtime-wide metrics (`orch.metrics()`) and `orch.is_running()`: counts
//! after known runs of real processes, percentiles and rates of actions on
//! paused time, restarts after an injected panic, the store's commits, and
//! liveness across start and shutdown.

use std::time::Duration;

use serde_json::json;
use taskorch::metrics::DEFAULT_QUEUE;
use taskorch::{Config, Orchestrator, Pattern, RunStatus, Task};

use crate::common::*;

/// An action that sleeps the number of milliseconds it is given.
fn register_sleep(orch: &Orchestrator) {
    orch.register_action("sleep_ms", |input| async move {
        let ms = input.as_u64().ok_or("expected milliseconds")?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(input)
    });
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

#[tokio::test]
async fn counts_by_pattern_and_status_after_real_processes() {
    let rt = start_runtime().await;
    let fresh = rt.metrics();
    assert_eq!(fresh.runs.submitted, 0);
    assert_eq!(fresh.runs.in_registry(), 0);
    assert_eq!(fresh.queue_wait.p50, None);

    for _ in 0..3 {
        assert!(rt.run(Task::command("/bin/true")).await.unwrap().success());
    }
    for _ in 0..2 {
        assert!(!rt.run(Task::command("/bin/false")).await.unwrap().success());
    }
    let mut launched = Vec::new();
    for program in ["/bin/true", "/bin/false"] {
        launched.push(rt.launch(Task::command(program)).await.unwrap());
    }
    for id in launched {
        rt.wait(id).await.unwrap();
    }

    let m = rt.metrics();
    let simple = m.pattern(Pattern::Simple);
    assert_eq!((simple.submitted, simple.started), (5, 5));
    assert_eq!(simple.finished(RunStatus::Succeeded), 3);
    assert_eq!(simple.finished(RunStatus::Failed), 2);
    assert_eq!(simple.current(RunStatus::Succeeded), 3);
    assert_eq!(simple.current(RunStatus::Failed), 2);
    let launched = m.pattern(Pattern::FireAndForget);
    assert_eq!((launched.submitted, launched.started), (2, 2));
    assert_eq!(launched.finished(RunStatus::Succeeded), 1);
    assert_eq!(launched.finished(RunStatus::Failed), 1);
    assert_eq!(m.pattern(Pattern::Periodic).submitted, 0);

    assert_eq!(m.runs.submitted, 7);
    assert_eq!(m.runs.started, 7);
    assert_eq!(m.runs.finished_total(), 7);
    assert_eq!(m.runs.in_registry(), 7);
    assert_eq!(m.runs.current(RunStatus::Running), 0);
    assert_eq!(m.queue_wait.count, 7);
    assert_eq!(m.run_time.count, 7);
    let run_time = m.run_time;
    assert!(run_time.p50 <= run_time.p90 && run_time.p90 <= run_time.p99);
    assert!(run_time.p99 <= run_time.max && run_time.max.is_some());
    assert!(run_time.sum >= run_time.max.unwrap());
    // Real processes in the last minute, on a runtime up for less.
    assert!(m.starts_per_second > 0.0 && m.finishes_per_second > 0.0);
    assert!(m.rate_window <= taskorch::metrics::RATE_WINDOW);

    let queue = &m.queues[DEFAULT_QUEUE];
    assert_eq!((queue.queued, queue.running), (0, 0));
    assert_eq!(queue.concurrency, rt.observe().config().max_concurrency);
    assert_eq!(queue.free, rt.observe().config().max_concurrency);
    assert!(!queue.paused);
    assert!(m.store.is_none(), "no store, no commit figures");
    assert!(m.running);
    let children = ["executor", "batch", "launcher", "scheduler", "pool_keeper"];
    for child in children {
        assert_eq!(m.restarts(child), 0, "{child} is listed from start");
    }
    assert_eq!(m.actors.len(), children.len());
}

#[tokio::test]
async fn queue_depth_counts_runs_waiting_for_a_permit() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let gate = register_gate(&rt, "gate");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(rt.launch(Task::action("gate", json!(i))).await.unwrap());
    }
    wait_for_status(&rt, ids[0], RunStatus::Running).await;
    let m = rt.metrics();
    let queue = &m.queues[DEFAULT_QUEUE];
    assert_eq!((queue.queued, queue.running), (2, 1));
    assert_eq!((queue.concurrency, queue.free), (1, 0));
    let launched = m.pattern(Pattern::FireAndForget);
    assert_eq!(launched.current(RunStatus::Queued), 2);
    assert_eq!(launched.current(RunStatus::Running), 1);
    assert_eq!((launched.submitted, launched.started), (3, 1));

    gate.add_permits(3);
    for id in ids {
        rt.wait(id).await.unwrap();
    }
    let m = rt.metrics();
    assert_eq!(m.queues[DEFAULT_QUEUE].queued, 0);
    assert_eq!(m.runs.current(RunStatus::Succeeded), 3);
    assert_eq!(m.runs.started, 3);
}

#[tokio::test]
async fn evicted_runs_leave_the_current_counts_but_not_the_totals() {
    let rt = start_with(Config {
        history_limit: 2,
        ..fast_config()
    })
    .await;
    for _ in 0..5 {
        rt.run(Task::command("/bin/true")).await.unwrap();
    }
    let m = rt.metrics();
    assert_eq!(m.runs.current(RunStatus::Succeeded), 2);
    assert_eq!(m.runs.in_registry(), rt.runs().len() as u64);
    assert_eq!(m.runs.finished(RunStatus::Succeeded), 5);
}

#[tokio::test(start_paused = true)]
async fn percentiles_of_queue_wait_and_run_time_on_paused_time() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    register_sleep(&rt);
    // One at a time: run times of 10, 20, ... 100 ms.
    for n in 1..=10 {
        rt.run(Task::action("sleep_ms", json!(n * 10)))
            .await
            .unwrap();
    }
    let m = rt.metrics();
    assert_eq!(m.run_time.count, 10);
    assert_eq!(m.run_time.window, 10);
    assert_eq!(m.run_time.p50, ms(50));
    assert_eq!(m.run_time.p90, ms(90));
    assert_eq!(m.run_time.p99, ms(100));
    assert_eq!(m.run_time.max, ms(100));
    assert_eq!(m.run_time.sum, Duration::from_millis(550));
    assert_eq!(m.queue_wait.max, ms(0), "nothing waited for the one permit");

    // Three launched at once behind one permit: they wait 0, 100, 200 ms.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            rt.launch(Task::action("sleep_ms", json!(100)))
                .await
                .unwrap(),
        );
    }
    for id in ids {
        rt.wait(id).await.unwrap();
    }
    let m = rt.metrics();
    let launched_waits = m.queue_wait;
    assert_eq!(launched_waits.count, 13);
    assert_eq!(launched_waits.max, ms(200));
    assert_eq!(launched_waits.sum, Duration::from_millis(300));
    assert_eq!(launched_waits.p90, ms(100));
    assert_eq!(launched_waits.p99, ms(200));
}

#[tokio::test(start_paused = true)]
async fn rates_cover_the_last_minute_on_paused_time() {
    let rt = start_runtime().await;
    register_sleep(&rt);
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..30 {
        rt.run(Task::action("sleep_ms", json!(0))).await.unwrap();
    }
    let m = rt.metrics();
    assert_eq!(m.rate_window, Duration::from_secs(60));
    assert!((m.starts_per_second - 0.5).abs() < 1e-9, "{m:?}");
    assert!((m.finishes_per_second - 0.5).abs() < 1e-9, "{m:?}");
    // A minute later none of them is in the window; the totals stay.
    tokio::time::advance(Duration::from_secs(61)).await;
    let m = rt.metrics();
    assert_eq!(m.starts_per_second, 0.0);
    assert_eq!(m.finishes_per_second, 0.0);
    assert_eq!(m.runs.started, 30);
    assert!(m.uptime >= Duration::from_secs(121));
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn restarts_per_actor_after_an_injected_panic() {
    use taskorch::Fault;
    let rt = start_runtime().await;
    rt.inject_fault("executor", Fault::PanicNextMessage);
    assert!(rt.run(Task::command("/bin/true")).await.is_err());
    wait_for("the executor's restart in the metrics", || {
        rt.metrics().restarts("executor") == 1
    })
    .await;
    let m = rt.metrics();
    assert_eq!(m.actors["executor"].gave_up, 0);
    assert_eq!(m.restarts("launcher"), 0);
    // The restarted executor serves again.
    assert!(rt.run(Task::command("/bin/true")).await.unwrap().success());
}

#[tokio::test]
async fn store_commit_latency_with_a_store_and_none_without() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start_with(fast_config().store(dir.path().join("runs.redb"))).await;
    for _ in 0..3 {
        rt.run(Task::command("/bin/true")).await.unwrap();
    }
    let store = rt.metrics().store.expect("a store reports its commits");
    assert!(store.commits >= 3, "{store:?}");
    assert_eq!(store.commits, store.commit_latency.count);
    assert!(store.commit_latency.p50.is_some());
    assert!(store.commit_latency.p99 <= store.commit_latency.max);
    assert!(store.commit_latency.max.unwrap() > Duration::ZERO);
    rt.shutdown().await.unwrap();

    let plain = start_runtime().await;
    plain.run(Task::command("/bin/true")).await.unwrap();
    assert!(plain.metrics().store.is_none());
}

#[tokio::test]
async fn is_running_from_start_until_shutdown_begins() {
    let rt = start_runtime().await;
    assert!(rt.is_running());
    // A run that outlives the grace: shutdown has to terminate it.
    let id = rt.launch(Task::command("sleep").arg("30")).await.unwrap();
    wait_for_status(&rt, id, RunStatus::Running).await;
    let orch = rt.orch.clone();
    let shutdown = tokio::spawn(async move { orch.shutdown().await });
    wait_for("shutdown to begin", || !rt.is_running()).await;
    assert!(!shutdown.is_finished(), "false already while shutdown runs");
    assert!(!rt.metrics().running);
    shutdown.await.unwrap().unwrap();
    assert!(!rt.is_running());
    // Metrics still answer after shutdown.
    assert_eq!(rt.metrics().runs.finished(RunStatus::Interrupted), 1);

    let aborted = start_runtime().await;
    assert!(aborted.is_running());
    aborted.abort();
    assert!(!aborted.is_running());
}

#[tokio::test]
async fn the_json_form_names_units_and_lists_every_series() {
    let rt = start_runtime().await;
    rt.run(Task::command("/bin/true")).await.unwrap();
    let json = serde_json::to_value(rt.metrics()).unwrap();
    assert_eq!(json["running"], true);
    assert!(json["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        json["runs_by_pattern"]["simple"]["finished"]["succeeded"],
        1
    );
    assert_eq!(
        json["runs_by_pattern"]["pooled"]["finished"]["timed_out"],
        0
    );
    assert_eq!(json["runs"]["current"]["queued"], 0);
    assert_eq!(json["queues"]["default"]["queued"], 0);
    assert!(json["run_time"]["p99_seconds"].as_f64().is_some());
    assert_eq!(json["actors"]["executor"]["restarts"], 0);
    assert_eq!(json["store"], serde_json::Value::Null);
    let back: taskorch::Metrics = serde_json::from_value(json).unwrap();
    assert_eq!(back.runs.submitted, 1);
}
