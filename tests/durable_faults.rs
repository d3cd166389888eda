//! The store under failing writes (`Fault::FailCommits`): a failed commit
//! refuses the work it carried with a typed error, the store reopens and
//! recovers on its own, and nothing acknowledged before the fault is lost.

#![cfg(feature = "fault-injection")]

use std::path::Path;
use std::time::Duration;

use taskorch::fault::{Fault, FaultTarget};
use taskorch::{Config, Error, Orchestrator, RunStatus, Task};

use crate::common::{fast_config, start_runtime};

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

#[tokio::test]
async fn fail_commits_fails_the_next_commit_inside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    orch.inject_fault_at("store", FaultTarget::next(), Fault::FailCommits(1))
        .unwrap();
    assert_eq!(orch.fault_stats().pending, 1);
    let err = orch.launch(Task::command("true")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Store { .. } | Error::StoreUnavailable { .. }),
        "a failed commit refuses the launch it carried: {err}"
    );
    let stats = orch.fault_stats();
    assert_eq!((stats.injected, stats.fired, stats.pending), (1, 1, 0));
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn fail_commits_is_refused_where_it_cannot_apply() {
    // No store: nothing to fail.
    let orch = start_runtime().await;
    let err = orch
        .inject_fault_at("store", FaultTarget::next(), Fault::FailCommits(1))
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
            .inject_fault_at(actor, target.clone(), fault.clone())
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidFault { .. }),
            "{actor} {target:?} {fault:?}: {err}"
        );
    }
    assert_eq!(orch.fault_stats().injected, 0);
    let out = tokio::time::timeout(Duration::from_secs(10), orch.run(Task::command("true")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orch.status(out.run_id), Some(RunStatus::Succeeded));
    orch.shutdown().await.unwrap();
}
