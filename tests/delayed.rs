//! Delayed one-off jobs (`Task::start_at`, `Task::start_after`): `launch`
//! answers at once and the run stays `Queued` until due; a due time in the
//! past runs now; a cancel before the start ends it `Cancelled` with
//! nothing run; `run` waits until due; schedules and graph tasks refuse a
//! start; a restart with the store keeps the due time and runs a missed
//! one once. Timer logic on paused time with a simulated clock; the
//! restart with real processes and a real store reopen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::schedule::Clock;
use taskorch::{Config, Error, Orchestrator, RunStatus, ScheduleSpec, Task, Trigger};

use crate::common::*;

const S: Duration = Duration::from_secs(1);

/// A runtime on a simulated clock with a "count" action that counts its
/// runs.
async fn counting_runtime() -> (Runtime, Clock, Arc<AtomicU32>) {
    let clock = Clock::simulated(SystemTime::now());
    let rt = start_with(Config {
        clock,
        ..fast_config()
    })
    .await;
    let count = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&count);
    rt.register_action("count", move |_| {
        let c = Arc::clone(&c);
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(json!(null))
        }
    });
    (rt, clock, count)
}

fn count() -> Task {
    Task::action("count", json!(null))
}

#[tokio::test(start_paused = true)]
async fn a_delayed_launch_starts_at_its_due_time_not_before() {
    let (rt, clock, ran) = counting_runtime().await;
    let after = rt.launch(count().start_after(10 * S)).await.unwrap();
    let at = rt
        .launch(count().start_at(clock.now() + 20 * S))
        .await
        .unwrap();
    settle().await;
    assert_eq!(rt.status(after), Some(RunStatus::Queued));
    assert_eq!(rt.status(at), Some(RunStatus::Queued));

    advance(10 * S - 10 * WHEEL).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "nothing ran before its due time"
    );
    assert_eq!(rt.status(after), Some(RunStatus::Queued));

    advance(20 * WHEEL).await;
    assert!(settle_until(|| rt.status(after) == Some(RunStatus::Succeeded)).await);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(rt.status(at), Some(RunStatus::Queued));

    advance(10 * S).await;
    assert!(settle_until(|| rt.status(at) == Some(RunStatus::Succeeded)).await);
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn many_delayed_launches_each_start_when_due() {
    let (rt, _clock, ran) = counting_runtime().await;
    let mut ids = Vec::new();
    // Launched in reverse order of their due times.
    for i in (1..=50u32).rev() {
        ids.push(rt.launch(count().start_after(i * S)).await.unwrap());
    }
    for n in 1..=50u32 {
        advance(S).await;
        assert!(
            settle_until(|| ran.load(Ordering::SeqCst) == n).await,
            "{n} runs by second {n}"
        );
    }
    for id in ids {
        assert_eq!(rt.status(id), Some(RunStatus::Succeeded));
    }
}

#[tokio::test(start_paused = true)]
async fn a_due_time_in_the_past_runs_now() {
    let (rt, clock, ran) = counting_runtime().await;
    let id = rt
        .launch(count().start_at(clock.now() - 60 * S))
        .await
        .unwrap();
    let out = rt.wait(id).await.unwrap();
    assert!(out.success());
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let id = rt
        .launch(count().start_after(Duration::ZERO))
        .await
        .unwrap();
    assert!(rt.wait(id).await.unwrap().success());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_start_ends_it_cancelled_and_nothing_runs() {
    let (rt, _clock, ran) = counting_runtime().await;
    let id = rt.launch(count().start_after(60 * S)).await.unwrap();
    settle().await;
    rt.cancel(id).await.unwrap();
    assert_ends_cancelled(&rt, id).await;
    advance(120 * S).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the cancelled run never ran");
    assert_eq!(rt.observe().find_run(id).unwrap().started, None);
}

#[tokio::test]
async fn a_start_too_far_ahead_is_refused_as_invalid_duration() {
    let rt = start_runtime().await;
    let far = Duration::from_secs(200 * 365 * 24 * 3600);
    let err = rt
        .launch(Task::command("true").start_after(far))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDuration { field, .. } if field == "Task::start_after"),
        "{err:?}"
    );
    let err = rt
        .launch(Task::command("true").start_at(SystemTime::now() + far))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDuration { field, .. } if field == "Task::start_at"),
        "{err:?}"
    );
    assert!(rt.runs().is_empty(), "nothing was accepted");
}

#[tokio::test(start_paused = true)]
async fn run_of_a_delayed_task_waits_until_it_is_due() {
    let (rt, _clock, ran) = counting_runtime().await;
    let orch = rt.orch.clone();
    let run = tokio::spawn(async move { orch.run(count().start_after(30 * S)).await });
    advance(30 * S - 10 * WHEEL).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(rt.runs().is_empty(), "registered only when it starts");
    advance(20 * WHEEL).await;
    let out = run.await.unwrap().unwrap();
    assert!(out.success());
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn schedules_and_graph_tasks_refuse_a_delayed_start() {
    let rt = start_runtime().await;
    let task = Task::command("true").start_after(S);
    let err = rt
        .schedule(ScheduleSpec::new("late", Trigger::every(S), task.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::StartNotSupported { place } if place == "schedule \"late\""),
        "{err:?}"
    );
    let mut g = TaskGraph::new();
    g.add(GraphTask::new("build", task));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::StartNotSupported { place } if place == "graph task \"build\""),
        "{err:?}"
    );
    assert!(rt.observe().schedules().list().is_empty());
}

/// A run launched with a store: one due in 1 s, missed while the
/// application is down, runs once on the next start; one due in 4 s keeps
/// its due time across the restart (it starts then, not 4 s after the
/// restart) and does not run before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_due_time_and_runs_a_missed_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    let mark = |tag: &str| Task::shell(format!("echo {tag} >> '{}'", marker.display())).name(tag);
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let missed = orch.launch(mark("missed").start_after(S)).await.unwrap();
    let kept = orch.launch(mark("kept").start_after(4 * S)).await.unwrap();
    let accepted = orch.observe().find_run(kept).unwrap().queued;
    let due = orch.observe().stored_run(kept).unwrap().due.unwrap();
    assert!(due >= accepted + 4 * S);
    orch.shutdown().await.unwrap();
    // Its waiters were let go of; the store keeps it queued.
    assert!(matches!(orch.wait(missed).await, Err(Error::ShuttingDown)));
    drop(orch);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!marker.exists(), "nothing ran while down");

    let restarted = SystemTime::now();
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let out = orch.wait(missed).await.unwrap();
    assert!(out.success());
    assert_eq!(orch.status(kept), Some(RunStatus::Queued));
    assert_eq!(orch.observe().stored_run(kept).unwrap().due, Some(due));
    let out = orch.wait(kept).await.unwrap();
    assert!(out.success());
    let started = orch.observe().find_run(kept).unwrap().started.unwrap();
    assert!(started >= due, "not before its due time");
    assert!(
        started < restarted + 4 * S,
        "the stored due time, not one counted again from the restart"
    );
    orch.shutdown().await.unwrap();
    drop(orch);
    let marks = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(marks.lines().filter(|l| *l == "missed").count(), 1);
    assert_eq!(marks.lines().filter(|l| *l == "kept").count(), 1);

    // A third start runs nothing again.
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    orch.shutdown().await.unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), marks);
}

#[tokio::test(start_paused = true)]
async fn waiting_runs_count_against_max_queued() {
    let rt = start_with(Config {
        max_queued: 2,
        clock: Clock::simulated(SystemTime::now()),
        ..fast_config()
    })
    .await;
    for _ in 0..2 {
        rt.launch(Task::command("true").start_after(3600 * S))
            .await
            .unwrap();
    }
    let err = rt
        .launch(Task::command("true").start_after(3600 * S))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QueueFull { limit: 2 }), "{err:?}");
}
