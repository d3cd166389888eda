//! Pool keeper crashes: pools are restored from the state kept outside the
//! keeper, queued requests survive, the request in hand is answered, and no
//! worker process is orphaned.

#![cfg(feature = "fault-injection")]

use std::time::Duration;

use taskorch::pool::PoolState;
use taskorch::supervision::RestartIntensity;
use taskorch::{ChildState, Error, Fault, PoolSpec};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

const PID_ECHO: &str = r#"while IFS= read -r l; do echo "$$ $l"; done"#;

fn pid_of(reply: &str) -> u32 {
    reply.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_keeper_crash_restores_every_pool_with_new_workers() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(
            PoolSpec::command("restored", "sh")
                .args(["-c", PID_ECHO])
                .workers(2),
        )
        .await
        .unwrap();
    let old = pool.worker_pids();
    assert_eq!(old.len(), 2);

    rt.inject_fault("pool_keeper", Fault::PanicNextMessage);
    let err = pool.resize(2).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "pool_keeper"),
        "{err:?}"
    );
    assert_all_dead(&old).await;
    assert!(
        wait_until(WAIT, || pool.stats().workers == 2).await,
        "the new keeper restored the pool: {:?}",
        pool.stats()
    );
    let reply = pool.request("after the crash").await.unwrap();
    assert!(!old.contains(&pid_of(&reply)));
    assert_eq!(pool.state(), PoolState::Open);
    let status = rt.system_status().await.unwrap();
    let keeper = status.child("pool_keeper").unwrap();
    assert_eq!((keeper.state, keeper.restarts), (ChildState::Running, 1));
}

#[tokio::test]
async fn queued_requests_survive_a_keeper_crash() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let script = format!(
        r#"while IFS= read -r l; do while [ ! -e {g} ]; do sleep 0.01; done; echo "$$ $l"; done"#,
        g = gate.display()
    );
    let pool = rt
        .pool(PoolSpec::command("survivor", "sh").args(["-c", script.as_str()]))
        .await
        .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.request(format!("q{i}")).await })
        })
        .collect();
    assert!(
        wait_until(WAIT, || {
            let s = pool.stats();
            s.busy == 1 && s.queued == 2
        })
        .await
    );
    rt.inject_fault("pool_keeper", Fault::PanicNextMessage);
    assert!(pool.resize(1).await.is_err());
    std::fs::write(&gate, "").unwrap();

    let mut results = Vec::new();
    for call in calls {
        results.push(tokio::time::timeout(WAIT, call).await.unwrap().unwrap());
    }
    // The request in hand died with the keeper's worker; the queued ones
    // were served by the restored worker.
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert!(
        matches!(failed[0], Err(Error::ActorFailed { actor, .. }) if actor == "pool_keeper"),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_keeper_given_up_on_answers_its_queued_requests() {
    let rt = start_with(taskorch::Config {
        restart_intensity: RestartIntensity {
            max_restarts: 0,
            within: Duration::from_secs(60),
        },
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let script = format!(
        r#"while IFS= read -r l; do while [ ! -e {g} ]; do sleep 0.01; done; echo "$l"; done"#,
        g = gate.display()
    );
    let pool = rt
        .pool(PoolSpec::command("orphaned", "sh").args(["-c", script.as_str()]))
        .await
        .unwrap();
    let pids = pool.worker_pids();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.request(format!("q{i}")).await })
        })
        .collect();
    assert!(wait_until(WAIT, || pool.stats().queued == 2).await);
    rt.inject_fault("pool_keeper", Fault::PanicNextMessage);
    assert!(pool.resize(1).await.is_err());

    for call in calls {
        let err = tokio::time::timeout(WAIT, call)
            .await
            .expect("answered, not left waiting")
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::ActorFailed { .. }), "{err:?}");
    }
    assert_all_dead(&pids).await;
    let err = pool.request("later").await.unwrap_err();
    assert!(
        matches!(&err, Error::PoolUnavailable(msg) if msg.contains("pool_keeper")),
        "{err:?}"
    );
    assert!(matches!(pool.state(), PoolState::Failed(_)));
}
