//! The Concurrent pattern: `orch.run_batch(tasks, limit)` and
//! `orch.start_batch(spec)`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use taskorch::batch::BatchSpec;
use taskorch::{Config, Error, Orchestrator, Pattern, RunStatus, Task};
use tokio::sync::Semaphore;

use crate::common::*;

/// A shell task that starts a grandchild, writes both pids to `pids`, and
/// waits: it never ends by itself.
fn long(pids: &Path) -> Task {
    Task::shell(format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    ))
}

/// Registers the action "gate": it counts itself in `now` (and `peak`),
/// then waits for a permit of `gate`, which the test hands out.
struct Gate {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Gate {
    fn register(orch: &Orchestrator) -> Gate {
        let gate = Gate {
            now: Arc::default(),
            peak: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        };
        let (now, peak, permits) = (
            Arc::clone(&gate.now),
            Arc::clone(&gate.peak),
            Arc::clone(&gate.gate),
        );
        orch.register_action("gate", move |input| {
            let (now, peak, permits) = (Arc::clone(&now), Arc::clone(&peak), Arc::clone(&permits));
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                permits.acquire().await.expect("never closed").forget();
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(input)
            }
        });
        gate
    }

    fn task(i: usize) -> Task {
        Task::action("gate", json!(i))
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn open(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

#[tokio::test]
async fn results_are_in_input_order_with_commands_and_actions_mixed() {
    let rt = start_runtime().await;
    rt.register_action("double", |v| async move {
        v.as_i64()
            .map(|n| json!(n * 2))
            .ok_or_else(|| "not a number".to_string())
    });
    let tasks = vec![
        // The slowest first, so it finishes after the ones behind it.
        Task::shell("sleep 0.2; echo first"),
        Task::action("double", json!(21)),
        Task::command("echo").arg("second"),
        Task::shell("echo oops >&2; exit 3"),
        Task::action("double", json!("x")),
        Task::command("echo").arg("third"),
    ];
    let results = rt.run_batch(tasks, 3).await;
    assert_eq!(results.len(), 6);
    let outs: Vec<_> = results.iter().map(|r| r.as_ref().unwrap()).collect();
    assert_eq!(outs[0].stdout_str(), "first\n");
    assert_eq!(outs[1].value, Some(json!(42)));
    assert_eq!(outs[2].stdout_str(), "second\n");
    assert!(!outs[3].success(), "a non-zero exit is Ok in its slot");
    assert_eq!(outs[3].exit_code, Some(3));
    assert_eq!(outs[3].stderr_str(), "oops\n");
    assert!(!outs[4].success());
    assert_eq!(outs[4].stderr_str(), "not a number");
    assert_eq!(outs[5].stdout_str(), "third\n");

    let expect = [
        RunStatus::Succeeded,
        RunStatus::Succeeded,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Failed,
        RunStatus::Succeeded,
    ];
    for (out, status) in outs.iter().zip(expect) {
        let info = rt.observe().find_run(out.run_id).unwrap();
        assert_eq!(info.pattern, Pattern::Concurrent);
        assert_eq!(info.status, status);
    }
}

#[tokio::test]
async fn a_task_that_cannot_run_fails_only_its_own_slot() {
    let rt = start_runtime().await;
    let tasks = vec![
        Task::command("echo").arg("a"),
        Task::command("no-such-program-xyz"),
        Task::command(""),
        Task::command("echo").arg("d"),
    ];
    let results = rt.run_batch(tasks, 2).await;
    assert_eq!(results[0].as_ref().unwrap().stdout_str(), "a\n");
    assert!(
        matches!(&results[1], Err(Error::NotFound { program }) if program == "no-such-program-xyz"),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(&results[2], Err(Error::InvalidTask(_))),
        "{:?}",
        results[2]
    );
    assert_eq!(results[3].as_ref().unwrap().stdout_str(), "d\n");
    assert_eq!(rt.runs().len(), 2, "bad input never becomes a run");
}

#[tokio::test]
async fn a_limit_of_zero_is_an_invalid_task() {
    let rt = start_runtime().await;
    let results = rt
        .run_batch(vec![Task::command("true"), Task::command("true")], 0)
        .await;
    assert_eq!(results.len(), 2);
    for result in &results {
        assert!(
            matches!(result, Err(Error::InvalidTask(m)) if m.contains("limit")),
            "{result:?}"
        );
    }
    let err = rt
        .start_batch(BatchSpec::new([Task::command("true")], 0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTask(_)), "{err:?}");
    let err = rt
        .start_batch(BatchSpec::new([Task::command("true")], 1).timeout(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("timeout")),
        "{err:?}"
    );
    assert!(rt.runs().is_empty());
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_result() {
    let rt = start_runtime().await;
    assert!(rt.run_batch(Vec::new(), 4).await.is_empty());
    assert!(
        rt.run_batch(Vec::new(), 0).await.is_empty(),
        "no slot to put an error in"
    );
    let batch = rt.start_batch(BatchSpec::new([], 4)).await.unwrap();
    assert!(batch.is_empty() && batch.progress().is_finished());
    assert!(batch.wait().await.is_empty());
}

#[tokio::test]
async fn the_batch_limit_bounds_running_work_and_the_rest_waits() {
    let rt = start_runtime().await;
    let gate = Gate::register(&rt);
    let batch = rt
        .start_batch(BatchSpec::new((0..8).map(Gate::task), 3))
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || gate.now() == 3).await,
        "three run at once"
    );
    let p = batch.progress();
    assert_eq!((p.total, p.running, p.queued, p.done), (8, 3, 5, 0));
    assert_eq!(rt.runs().len(), 3, "queued tasks are not runs yet");
    gate.open(8);
    let results = batch.wait().await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.as_ref().unwrap().value, Some(json!(i)));
    }
    assert_eq!(gate.peak(), 3);
}

#[tokio::test]
async fn the_global_cap_bounds_work_across_batches() {
    let rt = start_with(Config {
        max_concurrency: 4,
        ..fast_config()
    })
    .await;
    let gate = Gate::register(&rt);
    let first = rt
        .start_batch(BatchSpec::new((0..6).map(Gate::task), 3))
        .await
        .unwrap();
    let second = rt
        .start_batch(BatchSpec::new((0..6).map(Gate::task), 3))
        .await
        .unwrap();
    // Each batch has 3 runs under way, but only 4 hold a runtime slot; the
    // other 2 wait `Queued` in the registry.
    let settled = wait_until(Duration::from_secs(10), || {
        gate.now() == 4 && first.progress().running == 3 && second.progress().running == 3
    })
    .await;
    assert!(settled, "{:?} {:?}", first.progress(), second.progress());
    let queued = rt
        .runs()
        .iter()
        .filter(|r| r.status == RunStatus::Queued)
        .count();
    assert_eq!(queued, 2);
    gate.open(12);
    let (a, b) = tokio::join!(first.wait(), second.wait());
    assert!(
        a.iter()
            .chain(&b)
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
    assert_eq!(gate.peak(), 4, "never more than the cap");
}

#[tokio::test]
async fn fail_fast_terminates_running_runs_and_cancels_queued_tasks() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // Fails once both long runs have written their pids.
    let failing = Task::shell(format!(
        "while [ \"$(cat {p} 2>/dev/null | wc -l)\" -lt 4 ]; do sleep 0.01; done; exit 1",
        p = pids.display()
    ));
    let tasks = vec![
        long(&pids),
        long(&pids),
        failing,
        Task::command("echo").arg("never"),
        Task::command("echo").arg("never"),
    ];
    let spec = BatchSpec::new(tasks, 3).fail_fast(true);
    let results = tokio::time::timeout(Duration::from_secs(30), async {
        rt.start_batch(spec).await.unwrap().wait().await
    })
    .await
    .expect("the batch ends");

    assert_eq!(results[2].as_ref().unwrap().exit_code, Some(1));
    for result in &results[..2] {
        let Err(Error::Cancelled { run: Some(id) }) = result else {
            panic!("running run: {result:?}");
        };
        assert_eq!(rt.status(*id), Some(RunStatus::Cancelled));
    }
    for result in &results[3..] {
        assert!(
            matches!(result, Err(Error::Cancelled { run: None })),
            "queued task: {result:?}"
        );
    }
    assert_all_dead(&read_pids(&pids)).await;
    assert_eq!(rt.runs().len(), 3, "queued tasks never started");
}

#[tokio::test]
async fn cancel_stops_the_whole_batch_and_leaves_no_process() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let batch = rt
        .start_batch(BatchSpec::new((0..4).map(|_| long(&pids)), 2))
        .await
        .unwrap();
    let pids = wait_for_pids(&pids, 4).await;
    let p = batch.progress();
    assert_eq!((p.running, p.queued, p.done), (2, 2, 0));

    batch.cancel();
    let results = batch.wait().await;
    for result in &results[..2] {
        let Err(Error::Cancelled { run: Some(id) }) = result else {
            panic!("running run: {result:?}");
        };
        assert_eq!(rt.status(*id), Some(RunStatus::Cancelled));
    }
    for result in &results[2..] {
        assert!(matches!(result, Err(Error::Cancelled { run: None })));
    }
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn the_batch_timeout_ends_what_is_unfinished() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let after = Duration::from_millis(500);
    let spec = BatchSpec::new((0..3).map(|_| long(&pids)), 2).timeout(after);
    let results = rt.start_batch(spec).await.unwrap().wait().await;
    for (i, result) in results.iter().enumerate() {
        let Err(Error::TimedOut { run, after: a }) = result else {
            panic!("slot {i}: {result:?}");
        };
        assert_eq!(*a, after);
        if let Some(id) = run {
            assert_eq!(rt.status(*id), Some(RunStatus::TimedOut));
        }
    }
    assert!(
        matches!(results[2], Err(Error::TimedOut { run: None, .. })),
        "the third never got a slot"
    );
    assert_all_dead(&read_pids(&pids)).await;
}

#[tokio::test]
async fn dropping_the_handle_does_not_stop_the_batch() {
    let rt = start_runtime().await;
    let gate = Gate::register(&rt);
    let batch = rt
        .start_batch(BatchSpec::new((0..4).map(Gate::task), 2))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || gate.now() == 2).await);
    drop(batch);
    gate.open(4);
    let all_done = wait_until(Duration::from_secs(10), || {
        let runs = rt.runs();
        runs.len() == 4 && runs.iter().all(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    assert!(all_done, "{:?}", rt.runs());
}

#[tokio::test]
async fn shutdown_mid_batch_interrupts_runs_and_refuses_the_rest() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let orch = rt.orch.clone();
    let tasks: Vec<Task> = (0..3).map(|_| long(&pids)).collect();
    let batch = tokio::spawn(async move { orch.run_batch(tasks, 2).await });
    let pids = wait_for_pids(&pids, 4).await;

    tokio::time::timeout(Duration::from_secs(10), rt.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    for &pid in &pids {
        assert!(!alive(pid), "pid {pid} outlived shutdown");
    }
    let results = batch.await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::ShuttingDown))),
        "{results:?}"
    );
    let statuses: Vec<RunStatus> = rt.runs().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RunStatus::Interrupted, RunStatus::Interrupted]);

    let refused = rt.run_batch(vec![Task::command("true")], 1).await;
    assert!(matches!(refused[..], [Err(Error::ShuttingDown)]));
    let err = rt
        .start_batch(BatchSpec::new([Task::command("true")], 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShuttingDown));
}

#[tokio::test]
async fn the_coordinator_reports_in_system_status() {
    let rt = start_runtime().await;
    let status = rt.system_status().await.unwrap();
    let batch = status.child("batch").expect("a child called batch");
    assert_eq!(batch.restarts, 0);
    assert_eq!(
        batch.detail.as_deref(),
        Some("0 batches and 0 graphs in flight")
    );
}

/// With `report_each`, a result's output bytes are handed out once, by
/// `next_finished`: `wait` keeps the outcome without them, so a batch of
/// chatty jobs never holds their output twice until it ends.
#[tokio::test]
async fn reported_output_bytes_are_not_held_again_for_wait() {
    let rt = start_runtime().await;
    let tasks = (0..3).map(|i| Task::shell(format!("echo job-{i}")));
    let mut batch = rt
        .start_batch(BatchSpec::new(tasks, 2).report_each(true))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some((index, result)) = batch.next_finished().await {
        let out = result.unwrap();
        assert_eq!(out.stdout_str(), format!("job-{index}\n"));
        seen.push(index);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2]);
    for result in batch.wait().await {
        let out = result.unwrap();
        assert!(out.success());
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}
