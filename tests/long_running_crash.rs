//! The LongRunning pattern when the executor dies mid-stream: the run is
//! interrupted (its process group killed), the stream ends, and the lines
//! captured so far stay readable.

#![cfg(feature = "fault-injection")]

use std::time::Duration;

use taskorch::{Error, Fault, RunStatus, Task};

use crate::common::*;

#[tokio::test]
async fn an_executor_panic_mid_stream_interrupts_the_run_and_kills_its_group() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; echo progress 1; wait",
        p = pids.display()
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let id = stream.run_id();
    let bounded = Duration::from_secs(10);
    let first = tokio::time::timeout(bounded, stream.next_line())
        .await
        .unwrap();
    assert_eq!(first.unwrap().text, "progress 1");
    let pids = wait_for_pids(&pids, 2).await;
    // A late reader attached before the crash.
    let mut watcher = rt.observe().subscribe_output(id).unwrap();

    rt.inject_fault("executor", Fault::PanicNextMessage);
    assert!(rt.run(Task::command("true")).await.is_err());

    let end = tokio::time::timeout(bounded, stream.next_line()).await;
    assert_eq!(end.expect("the stream ends"), None);
    let err = tokio::time::timeout(bounded, stream.wait())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "executor"),
        "{err:?}"
    );
    assert_eq!(rt.status(id), Some(RunStatus::Interrupted));
    assert_all_dead(&pids).await;

    let seen = tokio::time::timeout(bounded, watcher.next_line())
        .await
        .unwrap();
    assert_eq!(seen.unwrap().text, "progress 1");
    let end = tokio::time::timeout(bounded, watcher.next_line())
        .await
        .unwrap();
    assert!(end.is_none(), "every reader ends");
    let kept = rt.output(id).unwrap();
    assert_eq!(kept.lines.len(), 1);

    // The restarted executor streams again.
    let again = rt.stream(Task::command("echo").arg("back")).await.unwrap();
    let out = tokio::time::timeout(bounded, again.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.stdout_str(), "back\n");
}

#[tokio::test]
async fn a_stream_request_that_crashes_the_executor_fails_and_leaves_no_run() {
    let rt = start_runtime().await;
    rt.inject_fault("executor", Fault::PanicNextMessage);
    let err = rt.stream(Task::command("true")).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "executor"),
        "{err:?}"
    );
    assert!(rt.runs().is_empty());
    let stream = rt.stream(Task::command("true")).await.unwrap();
    assert!(stream.wait().await.unwrap().success());
}
