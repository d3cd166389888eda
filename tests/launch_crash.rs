//! Launcher crashes: launched runs belong to the runtime, so a launcher
//! panic (or a strategy restart) leaves them running to completion, and
//! shutdown still ends them when no launcher is left to do it.

#![cfg(feature = "fault-injection")]

use std::time::Duration;

use taskorch::supervision::{RestartIntensity, Strategy};
use taskorch::{ChildState, Config, Error, Fault, RunStatus, Task};

use crate::common::*;
use crate::launch::Gate;

fn assert_launcher_failed(err: &Error) {
    assert!(
        matches!(err, Error::ActorFailed { actor, .. } if actor == "launcher"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_launcher_panic_with_100_runs_in_flight_loses_none() {
    // 64 execution slots: of the 100 runs, 64 are running and 36 queued
    // when the launcher panics.
    let rt = start_with(Config {
        max_concurrency: 64,
        ..fast_config()
    })
    .await;
    let mut gate = Gate::new();
    let pids = gate.file("pids");
    // Each run leaves a grandchild behind in its group: the orphan check.
    let script = format!(
        "sleep 60 & echo $! >> {p}; echo $$ >> {p}; {wait}",
        p = pids.display(),
        wait = gate.wait()
    );
    let mut ids = Vec::new();
    for i in 0..100 {
        let task = Task::shell(script.clone()).name(format!("job-{i}"));
        ids.push(rt.launch(task).await.unwrap());
    }
    wait_for_pids(&pids, 2 * 64).await;
    let statuses = |rt: &Runtime| {
        ids.iter()
            .map(|&id| rt.status(id).unwrap())
            .collect::<Vec<_>>()
    };
    assert!(statuses(&rt).iter().all(|s| !s.is_terminal()));
    assert!(statuses(&rt).contains(&RunStatus::Queued));

    rt.inject_fault("launcher", Fault::PanicNextMessage);
    let err = rt.launch(Task::command("true")).await.unwrap_err();
    assert_launcher_failed(&err);
    assert_eq!(
        rt.runs().len(),
        100,
        "the launch that crashed was not accepted"
    );
    assert!(
        statuses(&rt).iter().all(|s| !s.is_terminal()),
        "the crash ended no launched run"
    );

    // Restarted, and launching again.
    let next = rt.launch(Task::command("true")).await.unwrap();
    let launcher = rt.system_status().await.unwrap();
    let launcher = launcher.child("launcher").unwrap();
    assert_eq!(
        (launcher.state, launcher.restarts),
        (ChildState::Running, 1)
    );

    gate.open();
    for &id in &ids {
        let out = tokio::time::timeout(Duration::from_secs(30), rt.wait(id))
            .await
            .expect("every launched run finishes")
            .unwrap();
        assert!(out.success(), "{out:?}");
    }
    assert!(statuses(&rt).iter().all(|&s| s == RunStatus::Succeeded));
    assert!(rt.wait(next).await.unwrap().success());
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 200);
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn launched_runs_survive_a_strategy_restart_of_the_launcher() {
    let rt = start_with(Config {
        strategy: Strategy::OneForAll,
        ..fast_config()
    })
    .await;
    let mut gate = Gate::new();
    let id = rt.launch(Task::shell(gate.wait())).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || rt.status(id)
            == Some(RunStatus::Running))
        .await
    );
    // The executor fails; one_for_all stops and restarts the launcher too.
    rt.inject_fault("executor", Fault::PanicNextMessage);
    assert!(rt.run(Task::command("true")).await.is_err());
    assert!(rt.launch(Task::command("true")).await.is_ok());
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.child("launcher").unwrap().restarts, 1);
    assert_eq!(rt.status(id), Some(RunStatus::Running));

    gate.open();
    assert!(rt.wait(id).await.unwrap().success());
}

#[tokio::test]
async fn shutdown_ends_launched_runs_after_the_launcher_failed_for_good() {
    let rt = start_with(Config {
        restart_intensity: RestartIntensity {
            max_restarts: 0,
            within: Duration::from_secs(60),
        },
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let id = rt.launch(Task::shell(script)).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;

    rt.inject_fault("launcher", Fault::PanicNextMessage);
    assert_launcher_failed(&rt.launch(Task::command("true")).await.unwrap_err());
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.child("launcher").unwrap().state, ChildState::Failed);
    let err = rt.launch(Task::command("true")).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { reason, .. } if reason.contains("gave up")),
        "{err:?}"
    );
    assert_eq!(rt.status(id), Some(RunStatus::Running), "still running");

    tokio::time::timeout(Duration::from_secs(10), rt.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    assert!(matches!(rt.wait(id).await, Err(Error::ShuttingDown)));
    assert_eq!(rt.status(id), Some(RunStatus::Interrupted));
    // SIGKILL is delivered asynchronously: dead within a bounded wait.
    assert_all_dead(&pids).await;
}
