//! Crash semantics: a failing executor never hangs a caller, never orphans
//! a process, and comes back for the next request.

#![cfg(feature = "fault-injection")]

use std::time::Duration;

use serde_json::json;
use taskorch::{ChildState, Error, Fault, RunStatus, Task};

use crate::common::*;

#[tokio::test]
async fn panic_while_handling_gives_actor_failed_and_the_next_run_works() {
    let rt = start_runtime().await;
    rt.inject_fault("executor", Fault::PanicNextMessage);
    let err = rt.run(Task::command("true")).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "executor"),
        "{err:?}"
    );

    let out = rt.run(Task::command("echo").arg("back")).await.unwrap();
    assert_eq!(out.stdout_str(), "back\n");
    let status = rt.system_status().await.unwrap();
    let executor = status.child("executor").unwrap();
    assert_eq!(executor.state, ChildState::Running);
    assert_eq!(executor.restarts, 1);
    assert!(
        executor
            .last_failure
            .as_deref()
            .unwrap()
            .contains("injected fault")
    );
}

#[tokio::test]
async fn runs_in_flight_when_the_executor_dies_are_interrupted_not_orphaned() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let orch = rt.orch.clone();
    let long = tokio::spawn(async move { orch.run(Task::shell(script)).await });
    let pids = wait_for_pids(&pids, 2).await;

    rt.inject_fault("executor", Fault::PanicNextMessage);
    assert!(rt.run(Task::command("true")).await.is_err());

    let err = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("the caller of the in-flight run is answered")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "executor"),
        "{err:?}"
    );
    assert_all_dead(&pids).await;
    let run = rt.runs().into_iter().find(|r| r.name == "sh").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(rt.run(Task::command("true")).await.unwrap().success());
}

#[tokio::test]
async fn a_delayed_executor_still_answers_status() {
    let rt = start_runtime().await;
    rt.inject_fault("executor", Fault::DelayNextMessage(Duration::from_secs(3)));
    let orch = rt.orch.clone();
    let slow = tokio::spawn(async move { orch.run(Task::command("true")).await });
    // The supervisor answers from its own table; the busy child's probe
    // times out instead of blocking the answer.
    let status = tokio::time::timeout(Duration::from_secs(2), rt.system_status())
        .await
        .expect("status answers while a child is busy")
        .unwrap();
    assert_eq!(status.child("executor").unwrap().state, ChildState::Running);
    assert!(slow.await.unwrap().unwrap().success());
}

#[tokio::test]
async fn repeated_crashes_past_the_intensity_fail_fast() {
    let rt = start_with(taskorch::Config {
        restart_intensity: taskorch::supervision::RestartIntensity {
            max_restarts: 2,
            within: Duration::from_secs(60),
        },
        restart_backoff: taskorch::Backoff::none(),
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    for _ in 0..3 {
        rt.inject_fault("executor", Fault::PanicNextMessage);
        assert!(rt.run(Task::action("noop", json!(null))).await.is_err());
    }
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.child("executor").unwrap().state, ChildState::Failed);
    let started = std::time::Instant::now();
    let err = rt.run(Task::action("noop", json!(null))).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { reason, .. } if reason.contains("gave up")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a failed child answers at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_right_after_a_crash_succeeds() {
    let rt = start_with(taskorch::Config {
        restart_intensity: taskorch::supervision::RestartIntensity {
            max_restarts: 100,
            within: Duration::from_secs(60),
        },
        restart_backoff: taskorch::Backoff::none(),
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(1)) });
    let task = Task::action("noop", json!(null));
    // Repeated on a multi-threaded runtime: the next request often lands in
    // the dying actor's mailbox and must be re-delivered, not failed.
    for round in 0..30 {
        rt.inject_fault("executor", Fault::PanicNextMessage);
        assert!(
            rt.run(task.clone()).await.is_err(),
            "round {round}: the panicking request fails"
        );
        let out = rt.run(task.clone()).await;
        assert!(
            out.is_ok_and(|o| o.success()),
            "round {round}: the next request succeeds"
        );
    }
    assert_eq!(
        rt.system_status()
            .await
            .unwrap()
            .child("executor")
            .unwrap()
            .restarts,
        30
    );
}

#[tokio::test]
async fn requests_queued_behind_a_crash_are_redelivered() {
    let rt = start_with(taskorch::Config {
        restart_wait: Duration::from_secs(10),
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(1)) });
    // The first message stalls the executor while the rest queue up behind
    // it; the second panics, and ractor drops everything queued after it.
    rt.inject_fault(
        "executor",
        Fault::DelayNextMessage(Duration::from_millis(200)),
    );
    rt.inject_fault("executor", Fault::PanicNextMessage);
    let calls = (0..10).map(|_| rt.run(Task::action("noop", json!(null))));
    let results = futures::future::join_all(calls).await;
    // The stalled first request was handled, but its run may still be in
    // flight when the second one kills the incarnation; it then ends
    // `ActorFailed` like every run of a dead incarnation. Only the second
    // fails *while being handled*, and everything queued behind it is
    // re-delivered.
    assert!(
        matches!(&results[1], Err(Error::ActorFailed { reason, .. }) if reason.contains("while handling")),
        "{results:?}"
    );
    assert!(
        results[2..].iter().all(|r| r.is_ok()),
        "queued requests are re-delivered: {results:?}"
    );
}
