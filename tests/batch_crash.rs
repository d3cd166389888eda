//! Crash semantics of the batch coordinator: a panic mid-batch keeps what
//! finished, interrupts the rest, orphans nothing, and the coordinator
//! comes back.

#![cfg(feature = "fault-injection")]

use std::time::Duration;

use taskorch::batch::BatchSpec;
use taskorch::{ChildState, Error, Fault, RunStatus, Task};

use crate::common::*;

fn is_batch_failure(result: &taskorch::Result<taskorch::Output>) -> bool {
    matches!(result, Err(Error::ActorFailed { actor, .. }) if actor == "batch")
}

#[tokio::test]
async fn a_panic_mid_batch_keeps_finished_results_and_interrupts_the_rest() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let long = Task::shell(format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    ));
    let tasks = vec![
        Task::command("echo").arg("zero"),
        Task::command("echo").arg("one"),
        long.clone(),
        long,
        Task::command("echo").arg("four"),
        Task::command("echo").arg("five"),
    ];
    let batch = rt.start_batch(BatchSpec::new(tasks, 2)).await.unwrap();
    // Both quick tasks are done and both long ones run: their shells and
    // their `sleep` grandchildren.
    let pids = wait_for_pids(&pids, 4).await;
    assert!(wait_until(Duration::from_secs(10), || batch.progress().done == 2).await);

    rt.inject_fault("batch", Fault::PanicNextMessage);
    let trigger = rt.run_batch(vec![Task::command("true")], 1).await;
    assert!(is_batch_failure(&trigger[0]), "{trigger:?}");

    let results = tokio::time::timeout(Duration::from_secs(10), batch.wait())
        .await
        .expect("the caller gets its results");
    assert_eq!(results[0].as_ref().unwrap().stdout_str(), "zero\n");
    assert_eq!(results[1].as_ref().unwrap().stdout_str(), "one\n");
    for (i, result) in results.iter().enumerate().skip(2) {
        assert!(is_batch_failure(result), "slot {i}: {result:?}");
    }
    assert_all_dead(&pids).await;
    let interrupted = rt
        .runs()
        .iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .count();
    assert_eq!(interrupted, 2, "the two runs in flight");
    assert_eq!(rt.runs().len(), 4, "the last two never started");

    let batch = rt.system_status().await.unwrap();
    let batch = batch.child("batch").unwrap();
    assert_eq!((batch.state, batch.restarts), (ChildState::Running, 1));
    let again = rt
        .run_batch(vec![Task::command("echo").arg("back")], 1)
        .await;
    assert_eq!(again[0].as_ref().unwrap().stdout_str(), "back\n");
}

#[tokio::test]
async fn a_panic_while_accepting_fails_every_slot_and_the_next_batch_works() {
    let rt = start_runtime().await;
    rt.inject_fault("batch", Fault::PanicNextMessage);
    let results = rt
        .run_batch(vec![Task::command("true"), Task::command("true")], 2)
        .await;
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(is_batch_failure), "{results:?}");
    assert!(rt.runs().is_empty(), "nothing started");

    let results = rt
        .run_batch(vec![Task::command("true"), Task::command("true")], 2)
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
}

#[tokio::test]
async fn a_batch_sent_while_the_coordinator_restarts_is_delivered() {
    let rt = start_runtime().await;
    // The first message stalls the coordinator while batches queue behind
    // it; the second panics, and ractor drops everything queued after it.
    rt.inject_fault("batch", Fault::DelayNextMessage(Duration::from_millis(200)));
    rt.inject_fault("batch", Fault::PanicNextMessage);
    let batches = (0..5).map(|_| rt.run_batch(vec![Task::command("true")], 1));
    let results = futures::future::join_all(batches).await;
    // The first batch was already running when the coordinator died, so it
    // may or may not have finished; the second was being accepted.
    assert!(
        matches!(&results[1][0], Err(Error::ActorFailed { reason, .. }) if reason.contains("while handling")),
        "{:?}",
        results[1]
    );
    for (i, batch) in results.iter().enumerate().skip(2) {
        assert!(
            batch[0].as_ref().is_ok_and(|o| o.success()),
            "batch {i} was re-delivered: {batch:?}"
        );
    }
}
