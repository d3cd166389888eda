//! Automatic pattern selection: `orch.execute(Request)` runs each pattern
//! through that pattern's own method and answers in its shape; requests
//! whose options conflict are refused before anything runs.

use std::time::Duration;

use serde_json::json;
use taskorch::{
    Error, Execution, Pattern, PoolSpec, Request, RunQuery, RunStatus, StreamKind, Task, Trigger,
};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

fn echo(text: &str) -> Task {
    Task::command("echo").arg(text)
}

#[tokio::test]
async fn no_options_is_simple_and_answers_like_run() {
    let rt = start_runtime().await;
    let done = rt.execute(Request::new(echo("hi"))).await.unwrap();
    assert_eq!(done.pattern(), Pattern::Simple);
    let id = done.run_id().unwrap();
    let Execution::Completed(out) = done else {
        panic!("{done:?}")
    };
    assert_eq!(out.stdout_str(), "hi\n");
    assert_eq!(rt.observe().find_run(id).unwrap().pattern, Pattern::Simple);

    // A non-zero exit is an output, as from `run`.
    let failed = rt.execute(Request::new(Task::shell("exit 3"))).await;
    let Ok(Execution::Completed(out)) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(out.exit_code, Some(3));
    assert!(!out.success());

    // Input errors are the pattern's own.
    let missing = rt
        .execute(Request::new(Task::command("no-such-program-xyz")))
        .await;
    assert!(
        matches!(&missing, Err(Error::NotFound { program }) if program == "no-such-program-xyz"),
        "{missing:?}"
    );

    rt.register_action("double", |v| async move {
        Ok(json!(v.as_i64().unwrap_or(0) * 2))
    });
    let Execution::Completed(out) = rt
        .execute(Request::new(Task::action("double", json!(21))))
        .await
        .unwrap()
    else {
        panic!("an action runs Simple")
    };
    assert_eq!(out.value, Some(json!(42)));
}

#[tokio::test]
async fn streaming_returns_a_live_stream() {
    let rt = start_runtime().await;
    let task = Task::shell("echo one; echo two >&2; echo three");
    let started = rt
        .execute(Request::new(task).streaming(true))
        .await
        .unwrap();
    assert_eq!(started.pattern(), Pattern::LongRunning);
    let Execution::Streaming(mut stream) = started else {
        panic!("{started:?}")
    };
    let id = stream.run_id();
    let mut lines = Vec::new();
    while let Some(line) = stream.next_line().await {
        lines.push((line.stream, line.text));
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.contains(&(StreamKind::Stderr, "two".to_string())));
    assert!(stream.wait().await.unwrap().success());
    assert_eq!(
        rt.observe().find_run(id).unwrap().pattern,
        Pattern::LongRunning
    );
}

#[tokio::test]
async fn batch_runs_concurrently_with_results_in_input_order() {
    let rt = start_runtime().await;
    let tasks = vec![
        Task::shell("sleep 0.2; echo slow"),
        echo("fast"),
        Task::command("no-such-program-xyz"),
    ];
    // `.batch` replaces the request's own task.
    let done = rt
        .execute(Request::new(echo("replaced")).batch(tasks, 3))
        .await
        .unwrap();
    assert_eq!(done.pattern(), Pattern::Concurrent);
    assert_eq!(done.run_id(), None);
    let Execution::Batch(results) = done else {
        panic!("{done:?}")
    };
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().stdout_str(), "slow\n");
    assert_eq!(results[1].as_ref().unwrap().stdout_str(), "fast\n");
    assert!(matches!(results[2], Err(Error::NotFound { .. })));
    let runs = rt
        .observe()
        .find_runs(&RunQuery::new().pattern(Pattern::Concurrent));
    assert_eq!(runs.len(), 2, "the task that cannot run is no run");

    let empty = rt
        .execute(Request::new(echo("x")).batch(Vec::new(), 4))
        .await
        .unwrap();
    assert!(
        matches!(empty, Execution::Batch(ref r) if r.is_empty()),
        "{empty:?}"
    );
}

#[tokio::test]
async fn not_waiting_launches_and_answers_a_run_id() {
    let rt = start_runtime().await;
    let launched = rt
        .execute(Request::new(echo("later")).wait(false))
        .await
        .unwrap();
    assert_eq!(launched.pattern(), Pattern::FireAndForget);
    let Execution::Launched(id) = launched else {
        panic!("{launched:?}")
    };
    assert_eq!(rt.wait(id).await.unwrap().stdout_str(), "later\n");
    let info = rt.observe().find_run(id).unwrap();
    assert_eq!(info.pattern, Pattern::FireAndForget);
    assert_eq!(info.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn every_schedules_the_task_under_its_name() {
    let rt = start_runtime().await;
    rt.register_action("tick", |_| async { Ok(json!("tock")) });
    let task = Task::action("tick", json!(null)).name("heartbeat");
    let scheduled = rt
        .execute(Request::new(task.clone()).every(Duration::from_millis(20)))
        .await
        .unwrap();
    assert_eq!(scheduled.pattern(), Pattern::Periodic);
    let Execution::Scheduled(schedule) = scheduled else {
        panic!("{scheduled:?}")
    };
    assert_eq!(schedule.name(), "heartbeat");
    assert!(wait_until(WAIT, || schedule.info().runs >= 2).await);
    let last = schedule.info().last.unwrap();
    assert_eq!(last.name, "heartbeat");
    assert_eq!(last.pattern, Pattern::Periodic);

    // The name is the schedule's: a second one under it is refused.
    let again = rt
        .execute(Request::new(task).every(Duration::from_secs(1)))
        .await;
    assert!(
        matches!(&again, Err(Error::DuplicateSchedule(name)) if name == "heartbeat"),
        "{again:?}"
    );
    schedule.remove().await.unwrap();

    // A cron trigger through `.schedule`.
    let nightly = Task::action("tick", json!(null)).name("nightly");
    let cron = Trigger::cron("30 3 * * *").unwrap();
    let Execution::Scheduled(schedule) = rt
        .execute(Request::new(nightly).schedule(cron))
        .await
        .unwrap()
    else {
        panic!("a cron trigger schedules")
    };
    assert_eq!(schedule.name(), "nightly");
    assert!(schedule.info().next_due.is_some());
    assert_eq!(rt.observe().schedules().list().len(), 1);
}

#[tokio::test]
async fn pooled_sends_the_stdin_line_to_the_named_pool() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(PoolSpec::command("echo", "cat").workers(1))
        .await
        .unwrap();
    let reply = rt
        .execute(Request::new(Task::command("cat").stdin("hello pool\n")).pooled("echo"))
        .await
        .unwrap();
    assert_eq!(reply.pattern(), Pattern::Pooled);
    assert!(
        matches!(&reply, Execution::Pooled(line) if line == "hello pool"),
        "{reply:?}"
    );
    assert_eq!(pool.stats().served, 1);
    assert!(rt.runs().is_empty(), "a pool request is not a run");

    let unknown = rt
        .execute(Request::new(Task::command("cat").stdin("x")).pooled("nope"))
        .await;
    assert!(
        matches!(&unknown, Err(Error::PoolUnavailable(why)) if why.contains("\"nope\"")),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_pool_request_keeps_the_task_time_limit() {
    let rt = start_runtime().await;
    // Reads requests and never answers.
    let pool = rt
        .pool(PoolSpec::command("mute", "sh").args(["-c", "while read l; do :; done"]))
        .await
        .unwrap();
    let pids = pool.worker_pids();
    let limit = Duration::from_millis(100);
    let answer = rt
        .execute(Request::new(Task::command("x").stdin("hi").timeout(limit)).pooled("mute"))
        .await;
    assert!(
        matches!(answer, Err(Error::TimedOut { run: None, after }) if after == limit),
        "{answer:?}"
    );
    rt.shutdown().await.unwrap();
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn conflicting_options_are_refused_before_anything_runs() {
    let rt = start_runtime().await;
    rt.pool(PoolSpec::command("echo", "cat")).await.unwrap();
    let line = || Task::command("cat").stdin("x");
    let refused = [
        Request::new(line()).pooled("echo").streaming(true),
        Request::new(echo("x"))
            .batch(vec![echo("a"), echo("b")], 2)
            .every(Duration::from_secs(1)),
        Request::new(line())
            .pooled("echo")
            .batch(vec![echo("a")], 1),
        Request::new(echo("x")).pattern(Pattern::Simple).wait(false),
        Request::new(echo("x")).pattern(Pattern::Periodic),
        Request::new(echo("x")).pooled("echo"),
        Request::new(echo("x")).batch(vec![echo("a")], 0),
    ];
    for request in refused {
        let shown = format!("{request:?}");
        let answer = rt.execute(request).await;
        assert!(
            matches!(&answer, Err(Error::InvalidTask(_))),
            "{shown}: {answer:?}"
        );
    }
    assert!(rt.runs().is_empty(), "nothing ran");
    assert!(
        rt.observe().schedules().list().is_empty(),
        "nothing was scheduled"
    );

    let answer = rt
        .execute(Request::new(line()).pooled("echo").streaming(true))
        .await;
    let Err(Error::InvalidTask(message)) = answer else {
        panic!("{answer:?}")
    };
    assert!(message.contains("`.streaming(true)`"), "{message}");
    assert!(message.contains("`.pooled(\"echo\")`"), "{message}");
}

#[tokio::test]
async fn an_explicit_pattern_overrides_the_rules() {
    let rt = start_runtime().await;
    // A single task run as a batch of one.
    let done = rt
        .execute(Request::new(echo("solo")).pattern(Pattern::Concurrent))
        .await
        .unwrap();
    let Execution::Batch(results) = done else {
        panic!("{done:?}")
    };
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap().stdout_str(), "solo\n");

    let started = rt
        .execute(Request::new(echo("watched")).pattern(Pattern::LongRunning))
        .await
        .unwrap();
    let Execution::Streaming(stream) = started else {
        panic!("{started:?}")
    };
    assert_eq!(stream.wait().await.unwrap().stdout_str(), "watched\n");
}

#[tokio::test]
async fn after_shutdown_every_pattern_says_so() {
    let rt = start_runtime().await;
    rt.pool(PoolSpec::command("echo", "cat")).await.unwrap();
    rt.shutdown().await.unwrap();
    let requests = [
        Request::new(echo("x")),
        Request::new(echo("x")).streaming(true),
        Request::new(echo("x")).wait(false),
        Request::new(echo("x")).every(Duration::from_secs(1)),
        Request::new(Task::command("cat").stdin("x")).pooled("echo"),
    ];
    for request in requests {
        let shown = format!("{request:?}");
        let answer = rt.execute(request).await;
        assert!(
            matches!(answer, Err(Error::ShuttingDown)),
            "{shown}: {answer:?}"
        );
    }
    let answer = rt
        .execute(Request::new(echo("x")).batch(vec![echo("a"), echo("b")], 2))
        .await
        .unwrap();
    let Execution::Batch(results) = answer else {
        panic!("{answer:?}")
    };
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::ShuttingDown))),
        "{results:?}"
    );
}
