//! Graceful shutdown: reverse-order stop, runs in flight ended, no
//! orphans, idempotent.

use std::time::Duration;

use taskorch::{ChildState, Error, RunStatus, Task};

use crate::common::*;

#[tokio::test]
async fn run_after_shutdown_is_refused() {
    let rt = start_runtime().await;
    rt.shutdown().await.unwrap();
    let err = rt.run(Task::command("true")).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
}

#[tokio::test]
async fn shutdown_is_idempotent_and_concurrent_callers_all_return() {
    let rt = start_runtime().await;
    let (a, b) = tokio::join!(rt.shutdown(), rt.shutdown());
    a.unwrap();
    b.unwrap();
    rt.shutdown().await.unwrap();
    assert!(matches!(rt.system_status().await, Err(Error::ShuttingDown)));
}

#[tokio::test]
async fn runs_in_flight_are_given_grace_then_terminated() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let orch = rt.orch.clone();
    let long = tokio::spawn(async move { orch.run(Task::shell(script)).await });
    let quick_orch = rt.orch.clone();
    let quick =
        tokio::spawn(async move { quick_orch.run(Task::shell("sleep 0.1; echo ok")).await });
    let pids = wait_for_pids(&pids, 2).await;

    tokio::time::timeout(Duration::from_secs(10), rt.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    // The leader was reaped before shutdown returned; the SIGKILL sent to
    // the rest of its group is delivered asynchronously, so on a loaded
    // machine `sleep` may take a moment more to die.
    assert!(!alive(pids[1]), "the run's leader outlived shutdown");
    assert_all_dead(&pids).await;
    let err = long.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    let quick = quick.await.unwrap().unwrap();
    assert_eq!(
        quick.stdout_str(),
        "ok\n",
        "a run that fits in the grace period completes"
    );
    let statuses: Vec<RunStatus> = rt.runs().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&RunStatus::Interrupted));
    assert!(statuses.contains(&RunStatus::Succeeded));
}

#[tokio::test]
async fn status_before_shutdown_shows_the_executor() {
    let rt = start_runtime().await;
    let status = rt.system_status().await.unwrap();
    // Children in start order.
    let names: Vec<&str> = status.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["executor", "batch", "launcher", "scheduler", "pool_keeper"]
    );
    for child in &status.children {
        assert_eq!(child.state, ChildState::Running, "{child:?}");
        assert_eq!(child.restarts, 0, "{child:?}");
    }
}
