//! A panic inside a run's own task — an action's closure that panics
//! before it returns its future, an injected `PanicInRun` — ends the run
//! in every pattern: terminal status, `Error::RunPanicked` naming the run
//! for the caller and every waiter, the output ring closed, no process
//! left, and the pattern's actor still up. Each call is bounded, so a hang
//! is a failure.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::{ChildState, Error, Orchestrator, RunId, RunStatus, ScheduleSpec, Task, Trigger};

use crate::common::*;

/// The answer to `call`, which must come within a few seconds.
async fn answered<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the caller is answered, never left hanging")
}

fn explode() {
    panic!("boom before the future");
}

/// Registers "explode": its closure panics before it returns a future.
fn register_exploding(orch: &Orchestrator) {
    orch.register_action("explode", |_input: Value| {
        explode();
        async { Ok::<_, String>(Value::Null) }
    });
}

fn exploding() -> Task {
    Task::action("explode", json!({}))
}

/// The run id of a `RunPanicked`, after checking the panic's message.
fn panicked<T: std::fmt::Debug>(result: taskorch::Result<T>, says: &str) -> RunId {
    match result {
        Err(Error::RunPanicked { run, message }) => {
            assert!(message.contains(says), "{message}");
            run
        }
        other => panic!("expected RunPanicked, got {other:?}"),
    }
}

/// `wait` answers the panic (within its bound), and the run is `Failed`.
async fn ended(rt: &Runtime, run: RunId, says: &str) {
    assert_eq!(panicked(answered(rt.wait(run)).await, says), run);
    assert_eq!(rt.status(run), Some(RunStatus::Failed));
}

async fn still_running(rt: &Runtime, child: &str) {
    let status = answered(rt.system_status()).await.unwrap();
    let child = status.child(child).unwrap();
    assert_eq!(child.state, ChildState::Running);
    assert_eq!(child.restarts, 0, "the actor did not die with the run");
}

#[tokio::test]
async fn a_closure_panic_fails_a_simple_run_with_run_panicked() {
    let rt = start_runtime().await;
    register_exploding(&rt);
    let run = panicked(answered(rt.run(exploding())).await, "boom");
    ended(&rt, run, "boom").await;
    still_running(&rt, "executor").await;
}

#[tokio::test]
async fn a_closure_panic_ends_a_stream_and_wakes_every_waiter() {
    let rt = start_runtime().await;
    register_exploding(&rt);
    let mut stream = answered(rt.stream(exploding())).await.unwrap();
    let run = stream.run_id();
    let waiter = {
        let orch = rt.orch.clone();
        tokio::spawn(async move { orch.wait(run).await })
    };
    assert!(answered(stream.next_line()).await.is_none());
    assert_eq!(panicked(answered(stream.wait()).await, "boom"), run);
    assert_eq!(panicked(answered(waiter).await.unwrap(), "boom"), run);
    ended(&rt, run, "boom").await;
}

#[tokio::test]
async fn a_closure_panic_ends_a_launched_run() {
    let rt = start_runtime().await;
    register_exploding(&rt);
    let run = answered(rt.launch(exploding())).await.unwrap();
    ended(&rt, run, "boom").await;
    still_running(&rt, "launcher").await;
}

#[tokio::test]
async fn a_closure_panic_ends_a_scheduled_run_and_the_scheduler_lives_on() {
    let rt = start_runtime().await;
    register_exploding(&rt);
    let schedule = answered(rt.schedule(ScheduleSpec::new(
        "explodes",
        Trigger::every(Duration::from_secs(3600)).immediately(),
        exploding(),
    )))
    .await
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || schedule.info().failures >= 1).await,
        "the run never ended: {:?}",
        schedule.info()
    );
    let last = schedule.info().last.expect("a run");
    ended(&rt, last.id, "boom").await;
    still_running(&rt, "scheduler").await;
    answered(schedule.disable()).await.unwrap();
}

#[tokio::test]
async fn a_closure_panic_fails_its_batch_slot_only() {
    let rt = start_runtime().await;
    register_exploding(&rt);
    let results = answered(rt.run_batch(vec![exploding(), Task::command("true")], 2)).await;
    let mut results = results.into_iter();
    let run = panicked(results.next().unwrap(), "boom");
    ended(&rt, run, "boom").await;
    assert!(results.next().unwrap().unwrap().success());
}

#[tokio::test]
async fn a_timeout_of_duration_max_is_refused_and_the_longest_accepted_one_runs() {
    let rt = start_runtime().await;
    for result in [
        answered(rt.run(Task::command("true").timeout(Duration::MAX)))
            .await
            .map(|_| ()),
        answered(rt.launch(Task::command("true").timeout(Duration::MAX)))
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(Error::InvalidDuration { field, .. }) => assert_eq!(field, "Task::timeout"),
            other => panic!("expected InvalidDuration, got {other:?}"),
        }
    }
    assert!(rt.runs().is_empty(), "a refused task never becomes a run");
    // The limit itself is accepted: the runner's deadline saturates.
    let out = answered(rt.run(Task::command("true").timeout(taskorch::task::duration::MAX))).await;
    assert!(out.unwrap().success());
}

#[cfg(feature = "fault-injection")]
mod injected {
    //! `Fault::PanicInRun` in the run task of every pattern.

    use taskorch::fault::Fault;
    use taskorch::graph::{GraphTask, TaskGraph};

    use super::*;

    /// Live (not zombie) processes whose command line contains `marker`.
    fn processes_with(marker: &str) -> Vec<u32> {
        use taskorch::process::procfs;
        procfs::pids()
            .filter(|&pid| {
                procfs::cmdline(pid).is_some_and(|c| String::from_utf8_lossy(&c).contains(marker))
                    && alive(pid)
            })
            .collect()
    }

    /// A process run whose command line is unique to the test (`marker` is
    /// a number of seconds no other test sleeps), so the test can tell its
    /// process is gone.
    fn sleeper(marker: &str) -> Task {
        Task::command("sleep").arg(marker)
    }

    async fn no_process_left(marker: &str) {
        let gone = wait_until(Duration::from_secs(10), || {
            processes_with(marker).is_empty()
        })
        .await;
        assert!(gone, "left running: {:?}", processes_with(marker));
    }

    #[tokio::test]
    async fn in_a_simple_run_the_process_is_killed_and_the_caller_told() {
        let rt = start_runtime().await;
        rt.inject_fault("executor", Fault::PanicInRun);
        let marker = "30.1001";
        let run = panicked(answered(rt.run(sleeper(marker))).await, "injected fault");
        ended(&rt, run, "injected fault").await;
        no_process_left(marker).await;
        // Only the next run: the one after runs normally.
        assert!(
            answered(rt.run(Task::command("true")))
                .await
                .unwrap()
                .success()
        );
        still_running(&rt, "executor").await;
    }

    #[tokio::test]
    async fn in_a_streamed_run_the_stream_ends() {
        let rt = start_runtime().await;
        rt.inject_fault("executor", Fault::PanicInRun);
        let marker = "30.1002";
        let mut stream = answered(rt.stream(sleeper(marker))).await.unwrap();
        let run = stream.run_id();
        assert!(answered(stream.next_line()).await.is_none());
        assert_eq!(
            panicked(answered(stream.wait()).await, "injected fault"),
            run
        );
        ended(&rt, run, "injected fault").await;
        no_process_left(marker).await;
    }

    #[tokio::test]
    async fn in_a_launched_run() {
        let rt = start_runtime().await;
        rt.inject_fault("launcher", Fault::PanicInRun);
        let marker = "30.1003";
        let run = answered(rt.launch(sleeper(marker))).await.unwrap();
        ended(&rt, run, "injected fault").await;
        no_process_left(marker).await;
    }

    #[tokio::test]
    async fn in_a_scheduled_run() {
        let rt = start_runtime().await;
        register_gate(&rt, "never");
        rt.inject_fault("scheduler", Fault::PanicInRun);
        let schedule = answered(rt.schedule(ScheduleSpec::new(
            "panics",
            Trigger::every(Duration::from_secs(3600)).immediately(),
            Task::action("never", json!(null)),
        )))
        .await
        .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || schedule.info().failures >= 1).await,
            "{:?}",
            schedule.info()
        );
        ended(&rt, schedule.info().last.unwrap().id, "injected fault").await;
        still_running(&rt, "scheduler").await;
        answered(schedule.disable()).await.unwrap();
    }

    #[tokio::test]
    async fn in_a_batch_run() {
        let rt = start_runtime().await;
        rt.inject_fault("batch", Fault::PanicInRun);
        let marker = "30.1004";
        let results = answered(rt.run_batch(vec![sleeper(marker)], 1)).await;
        let run = panicked(results.into_iter().next().unwrap(), "injected fault");
        ended(&rt, run, "injected fault").await;
        no_process_left(marker).await;
    }

    #[tokio::test]
    async fn in_a_graph_run_its_dependents_are_skipped() {
        let rt = start_runtime().await;
        rt.inject_fault("batch", Fault::PanicInRun);
        let mut graph = TaskGraph::new();
        let first = graph.add(GraphTask::new("first", Task::command("true")));
        graph.add(GraphTask::new("second", Task::command("true")).after(first));
        let report = answered(rt.graphs().run(graph)).await.unwrap();
        let first = report.by_name("first").unwrap();
        assert_eq!(
            first.error_kind.as_deref(),
            Some("run_panicked"),
            "{first:?}"
        );
        assert_eq!(
            report.by_name("second").unwrap().error_kind.as_deref(),
            Some("skipped")
        );
    }
}
