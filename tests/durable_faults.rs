//! The store under failing writes (`Fault::FailCommits`): a failed commit
//! refuses the work it carried with a typed error, the store reopens and
//! recovers on its own, and nothing acknowledged before the fault is lost.

#![cfg(feature = "fault-injection")]

use std::path::Path;
use std::time::Duration;

use taskorch::fault::{Fault, FaultTarget};
use taskorch::{Config, Error, Orchestrator, RunId, RunStatus, Task};

use crate::common::{fast_config, start_runtime};

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

#[tokio::test]
async fn one_failed_write_is_absorbed_by_reopening_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    orch.faults()
        .inject_at("store", FaultTarget::next(), Fault::FailCommits(1))
        .unwrap();
    assert_eq!(orch.faults().stats().pending, 1);
    // The commit fails inside redb, which latches; the writer reopens the
    // file and commits again before answering.
    let id = orch.launch(Task::command("true")).await.unwrap();
    assert!(orch.wait(id).await.unwrap().success());
    let stats = orch.faults().stats();
    assert_eq!((stats.injected, stats.fired, stats.pending), (1, 1, 0));
    orch.shutdown().await.unwrap();
}

/// Launch until the store takes work again (bounded); every refusal on
/// the way must be the typed one.
async fn launch_once_available(orch: &Orchestrator, task: Task) -> RunId {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match orch.launch(task.clone()).await {
            Ok(id) => return id,
            Err(Error::StoreUnavailable { .. }) if tokio::time::Instant::now() < deadline => {
                // Poll the condition (the store reopened) under the deadline.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("the store never took work again: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_refuse_typed_then_the_store_reopens_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let marker = dir.path().join("refused-ran");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        let out = orch
            .run(Task::shell(format!("echo before-{i}")).name(format!("before-{i}")))
            .await
            .unwrap();
        acknowledged.push(out.run_id);
    }
    let launched = orch
        .launch(Task::shell("echo launched").name("launched"))
        .await
        .unwrap();
    orch.wait(launched).await.unwrap();
    acknowledged.push(launched);

    // Two failures: the one of the launch's commit, and the one of the
    // immediate reopen's retry; then the store is down until a later try.
    orch.faults()
        .inject_at("store", FaultTarget::next(), Fault::FailCommits(3))
        .unwrap();
    let refused = Task::shell(format!("touch {}", marker.display())).name("refused");
    let err = orch.launch(refused).await.unwrap_err();
    assert!(
        matches!(&err, Error::StoreUnavailable { path: p, reason } if p == &path && reason.contains("free disk space")),
        "{err}"
    );
    let refused_id = orch
        .runs()
        .into_iter()
        .find(|r| r.name == "refused")
        .expect("the refused run is recorded")
        .id;

    // Today's latch would fail every later run: the store must come back.
    let after = launch_once_available(&orch, Task::shell("echo after").name("after")).await;
    assert!(orch.wait(after).await.unwrap().success());
    assert!(orch.run(Task::command("true")).await.unwrap().success());
    assert_eq!(orch.status(refused_id), Some(RunStatus::Failed));
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    for (i, id) in acknowledged.iter().enumerate() {
        let info = orch
            .observe()
            .find_run(*id)
            .expect("acknowledged before the fault");
        assert_eq!(info.status, RunStatus::Succeeded, "run {i}");
    }
    let first: Vec<String> = orch
        .output(acknowledged[0])
        .expect("output kept")
        .lines
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(first, ["before-0"]);
    assert_eq!(orch.status(after), Some(RunStatus::Succeeded));
    // Refused means never run, and not resumed by the restart either.
    assert_eq!(orch.status(refused_id), Some(RunStatus::Failed));
    orch.shutdown().await.unwrap();
    assert!(!marker.exists(), "the refused run never ran");
}

#[tokio::test]
async fn fail_commits_is_refused_where_it_cannot_apply() {
    // No store: nothing to fail.
    let orch = start_runtime().await;
    let err = orch
        .faults()
        .inject_at("store", FaultTarget::next(), Fault::FailCommits(1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidFault { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let orch = Orchestrator::start(stored(&dir.path().join("s.redb")))
        .await
        .unwrap();
    for (actor, target, fault) in [
        ("executor", FaultTarget::next(), Fault::FailCommits(1)),
        ("store", FaultTarget::next(), Fault::PanicNextMessage),
        ("store", FaultTarget::next(), Fault::FailCommits(0)),
        ("store", FaultTarget::next().nth(2), Fault::FailCommits(1)),
    ] {
        let err = orch
            .faults()
            .inject_at(actor, target.clone(), fault.clone())
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidFault { .. }),
            "{actor} {target:?} {fault:?}: {err}"
        );
    }
    assert_eq!(orch.faults().stats().injected, 0);
    let out = tokio::time::timeout(Duration::from_secs(10), orch.run(Task::command("true")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orch.status(out.run_id), Some(RunStatus::Succeeded));
    orch.shutdown().await.unwrap();
}
