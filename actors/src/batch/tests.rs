//! The driver on its own, with in-process actions on paused time: order,
//! limits, fail-fast, time-outs and stops, without an actor around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::driver::Driver;
use super::{BATCH, Batch, BatchJob, BatchSpec};
use crate::context::{Context, Limits};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::registry::Retention;
use crate::run::RunStatus;
use crate::runner::Owner;
use crate::task::Task;
use crate::trace::Correlation;

/// A runtime context with a `sleep` action: `{"ms": n, "i": i}` sleeps n ms
/// and answers `i`; `{"fail": true}` answers an error. `now` / `peak`
/// count the actions executing at once.
struct Fixture {
    ctx: Arc<Context>,
    owner: Owner,
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Fixture {
    fn new() -> Self {
        let ctx = Context::new(Limits::default(), Retention::default());
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
        ctx.actions().register("sleep", move |input| {
            let (now, peak) = (Arc::clone(&n), Arc::clone(&p));
            async move {
                let running = Executing::enter(&now);
                peak.fetch_max(running.count(), Ordering::SeqCst);
                let ms = input["ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                drop(running);
                if input["fail"].as_bool() == Some(true) {
                    return Err("asked to fail".to_string());
                }
                Ok(input["i"].clone())
            }
        });
        let owner = Owner::new(BATCH, ctx.shutdown().root());
        Fixture {
            ctx,
            owner,
            now,
            peak,
        }
    }

    /// Start the driver of `spec` in its own task.
    fn start(&self, spec: BatchSpec) -> (Batch, tokio::task::JoinHandle<Vec<Result<Output>>>) {
        let (job, handle) = BatchJob::new(spec).unwrap();
        let pending = job.take().expect("a fresh job has its tasks");
        assert!(job.take().is_none(), "the tasks are taken once");
        let driver = Driver::new(
            Arc::clone(&self.ctx),
            self.owner.clone(),
            job,
            Correlation::for_caller(),
        );
        (handle, tokio::spawn(driver.run(pending.tasks)))
    }

    async fn run(&self, spec: BatchSpec) -> Vec<Result<Output>> {
        self.start(spec).1.await.unwrap()
    }

    fn status(&self, result: &Result<Output>) -> Option<RunStatus> {
        let id = match result {
            Ok(out) => out.run_id,
            Err(Error::Cancelled { run: Some(id) } | Error::TimedOut { run: Some(id), .. }) => *id,
            Err(_) => return None,
        };
        self.ctx.registry().status(id)
    }
}

/// Counts an executing action until dropped (a stopped action's future is
/// dropped mid-sleep).
struct Executing(Arc<AtomicUsize>);

impl Executing {
    fn enter(now: &Arc<AtomicUsize>) -> Self {
        now.fetch_add(1, Ordering::SeqCst);
        Executing(Arc::clone(now))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Executing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn sleep(i: usize, ms: u64) -> Task {
    Task::action("sleep", json!({ "i": i, "ms": ms }))
}

fn fail(ms: u64) -> Task {
    Task::action("sleep", json!({ "ms": ms, "fail": true }))
}

#[test]
fn bad_options_are_invalid_tasks() {
    let err = BatchJob::new(BatchSpec::new([Task::command("true")], 0)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("limit must be at least 1")),
        "{err:?}"
    );
    let err = BatchJob::new(BatchSpec::new([], 2).timeout(Duration::ZERO)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("timeout")),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn results_follow_input_order_and_the_limit_holds() {
    let fx = Fixture::new();
    // Later tasks are quicker, so runs finish out of input order.
    let tasks = (0..10).map(|i| sleep(i, 100 - 10 * i as u64));
    let results = fx.run(BatchSpec::new(tasks, 3)).await;
    for (i, result) in results.iter().enumerate() {
        let out = result.as_ref().unwrap();
        assert_eq!(out.value, Some(json!(i)), "slot {i}");
        assert_eq!(fx.status(result), Some(RunStatus::Succeeded));
    }
    assert_eq!(fx.peak.load(Ordering::SeqCst), 3);
    let runs = fx.ctx.registry().list();
    assert_eq!(runs.len(), 10);
    assert!(runs.iter().all(|r| r.pattern == Pattern::Concurrent));
}

#[tokio::test(start_paused = true)]
async fn a_huge_limit_is_only_a_bound() {
    let fx = Fixture::new();
    let results = fx
        .run(BatchSpec::new((0..4).map(|i| sleep(i, 10)), usize::MAX))
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(Output::success))
    );
    assert_eq!(fx.peak.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_cannot_run_fails_only_its_slot() {
    let fx = Fixture::new();
    let tasks = [sleep(0, 5), Task::action("nope", json!(null)), sleep(2, 5)];
    let results = fx.run(BatchSpec::new(tasks, 2)).await;
    assert!(results[0].as_ref().is_ok_and(Output::success));
    assert!(matches!(&results[1], Err(Error::UnknownAction(n)) if n == "nope"));
    assert!(results[2].as_ref().is_ok_and(Output::success));
    assert_eq!(fx.ctx.registry().len(), 2, "bad input never becomes a run");
}

#[tokio::test(start_paused = true)]
async fn the_batch_timeout_ends_running_and_queued_tasks() {
    let fx = Fixture::new();
    let tasks = [
        sleep(0, 10),
        sleep(1, 10_000),
        sleep(2, 10_000),
        sleep(3, 10_000),
        sleep(4, 10_000),
    ];
    let after = Duration::from_secs(1);
    let results = fx.run(BatchSpec::new(tasks, 2).timeout(after)).await;
    assert!(results[0].as_ref().is_ok_and(Output::success));
    for (i, result) in results.iter().enumerate().skip(1) {
        let Err(Error::TimedOut { run, after: a }) = result else {
            panic!("slot {i}: {result:?}");
        };
        assert_eq!(*a, after);
        // Slots 1 and 2 were running (slot 0 finished early); 3 and 4 never
        // started.
        assert_eq!(run.is_some(), i <= 2, "slot {i}");
        if run.is_some() {
            assert_eq!(fx.status(result), Some(RunStatus::TimedOut));
        }
    }
    assert_eq!(fx.now.load(Ordering::SeqCst), 0, "nothing left executing");
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_rest() {
    let fx = Fixture::new();
    let tasks = [
        sleep(0, 10_000),
        fail(100),
        sleep(2, 10_000),
        sleep(3, 10),
        sleep(4, 10),
    ];
    let (handle, driver) = fx.start(BatchSpec::new(tasks, 3).fail_fast(true));
    let results = driver.await.unwrap();
    let out = results[1].as_ref().unwrap();
    assert!(!out.success(), "the failure keeps its own result");
    for i in [0, 2] {
        assert!(
            matches!(results[i], Err(Error::Cancelled { run: Some(_) })),
            "slot {i}: {:?}",
            results[i]
        );
        assert_eq!(fx.status(&results[i]), Some(RunStatus::Cancelled));
    }
    for i in [3, 4] {
        assert!(
            matches!(results[i], Err(Error::Cancelled { run: None })),
            "slot {i}: {:?}",
            results[i]
        );
    }
    let progress = handle.progress();
    assert_eq!((progress.done, progress.failed), (5, 5));
    assert_eq!(fx.ctx.registry().len(), 3, "queued tasks never ran");
}

#[tokio::test(start_paused = true)]
async fn without_fail_fast_every_task_runs() {
    let fx = Fixture::new();
    let (handle, driver) = fx.start(BatchSpec::new([fail(1), sleep(1, 5), fail(1)], 1));
    let results = driver.await.unwrap();
    assert!(results.iter().all(Result::is_ok));
    let progress = handle.progress();
    assert_eq!(progress.total, 3);
    assert_eq!((progress.done, progress.failed), (3, 2));
    assert_eq!(progress.succeeded(), 1);
    assert!(progress.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_dead_incarnation_interrupts_what_is_unfinished() {
    let fx = Fixture::new();
    let tasks = [
        sleep(0, 10),
        sleep(1, 10_000),
        sleep(2, 10_000),
        sleep(3, 1),
    ];
    let (mut handle, driver) = fx.start(BatchSpec::new(tasks, 2));
    while handle.changed().await.done < 1 {}
    // What dropping a panicked coordinator's state does.
    fx.owner.stop(Error::actor_failed(BATCH, "boom"));
    let results = driver.await.unwrap();
    assert!(results[0].as_ref().is_ok_and(Output::success));
    for (i, result) in results.iter().enumerate().skip(1) {
        assert!(
            matches!(result, Err(Error::ActorFailed { actor, .. }) if actor == BATCH),
            "slot {i}: {result:?}"
        );
    }
    let statuses: Vec<RunStatus> = fx.ctx.registry().list().iter().map(|r| r.status).collect();
    assert_eq!(statuses.len(), 3, "the last task never started");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == RunStatus::Interrupted)
            .count(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_cancelled_before_it_starts_runs_nothing() {
    let fx = Fixture::new();
    let (job, handle) = BatchJob::new(BatchSpec::new((0..3).map(|i| sleep(i, 1)), 2)).unwrap();
    handle.cancel();
    let pending = job.take().unwrap();
    let driver = Driver::new(
        Arc::clone(&fx.ctx),
        fx.owner.clone(),
        job,
        Correlation::for_caller(),
    );
    let results = driver.run(pending.tasks).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::Cancelled { run: None })))
    );
    assert!(fx.ctx.registry().is_empty());
    assert!(handle.progress().is_finished());
}

#[tokio::test(start_paused = true)]
async fn progress_counts_add_up_while_running() {
    let fx = Fixture::new();
    let (mut handle, driver) = fx.start(BatchSpec::new((0..5).map(|i| sleep(i, 100)), 2));
    loop {
        let p = handle.changed().await;
        assert_eq!(p.queued + p.running + p.done, p.total, "{p:?}");
        assert!(p.running <= 2, "{p:?}");
        if p.is_finished() {
            break;
        }
    }
    // Returns at once on a finished batch.
    assert!(handle.changed().await.is_finished());
    assert_eq!(driver.await.unwrap().len(), 5);
    // This fixture keeps the results itself and drops the handle's port: a
    // handle whose port closes unanswered still gets one result per task.
    let lost = handle.wait().await;
    assert_eq!(lost.len(), 5);
    assert!(
        lost.iter()
            .all(|r| matches!(r, Err(Error::ActorFailed { actor, .. }) if actor == BATCH))
    );
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_result() {
    let fx = Fixture::new();
    assert!(fx.run(BatchSpec::new([], 4)).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn each_result_is_reported_as_its_task_ends() {
    let fx = Fixture::new();
    // Task 1 ends first; the batch is cancelled then, which ends 0 and 2
    // in flight and 3 before it starts.
    let tasks = [sleep(0, 300), sleep(1, 100), sleep(2, 1000), sleep(3, 0)];
    let (mut batch, driver) = fx.start(BatchSpec::new(tasks, 2).report_each(true));
    let mut reported = Vec::new();
    while let Some((index, result)) = batch.next_finished().await {
        if reported.is_empty() {
            assert_eq!(index, 1);
            assert_eq!(result.unwrap().value, Some(json!(1)));
            batch.cancel();
        } else {
            assert!(matches!(result, Err(Error::Cancelled { .. })), "{index}");
        }
        reported.push(index);
    }
    reported.sort_unstable();
    assert_eq!(reported, [0, 1, 2, 3], "every slot is reported once");
    // The same results stay in `wait`'s vector.
    let results = driver.await.unwrap();
    assert!(matches!(results[3], Err(Error::Cancelled { .. })));
}

#[tokio::test(start_paused = true)]
async fn without_report_each_nothing_is_reported() {
    let fx = Fixture::new();
    let (mut batch, driver) = fx.start(BatchSpec::new([sleep(0, 10)], 1));
    assert!(batch.next_finished().await.is_none());
    assert_eq!(driver.await.unwrap().len(), 1);
}
