//! Circuit breakers with real processes: fail fast without spawning,
//! half-open trial, status and events, bad options.

use std::time::Duration;

use taskorch::events::{EventBody, EventItem};
use taskorch::guard::{BreakerOptions, BreakerState};
use taskorch::{Error, Task};

use crate::common::{read_pids, start_runtime, wait_until};

fn failing(pids: &std::path::Path) -> Task {
    Task::shell(format!("echo $$ >> {}; exit 1", pids.display()))
        .breaker("payments-api")
        .breaker_options(
            BreakerOptions::default()
                .failures(2)
                .reset_timeout(Duration::from_millis(300)),
        )
}

#[tokio::test]
async fn an_open_breaker_fails_fast_without_spawning_then_lets_one_trial_through() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut events = rt.observe().subscribe();
    for _ in 0..2 {
        assert!(!rt.run(failing(&pids)).await.unwrap().success());
    }
    match rt.run(failing(&pids)).await {
        Err(Error::CircuitOpen { key, retry_after }) => {
            assert_eq!(key, "payments-api");
            assert!(retry_after <= Duration::from_millis(300));
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    // Also for a launch: refused before a run exists.
    assert!(matches!(
        rt.launch(failing(&pids)).await,
        Err(Error::CircuitOpen { .. })
    ));
    assert_eq!(read_pids(&pids).len(), 2, "nothing spawned while open");
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.breakers.len(), 1);
    assert_eq!(status.breakers[0].state, BreakerState::Open);
    assert_eq!(status.breakers[0].opened, 1);

    assert!(
        wait_until(Duration::from_secs(5), || rt.guard().breakers()[0].state
            == BreakerState::HalfOpen)
        .await
    );
    // The trial succeeds: closed again.
    let ok = Task::command("true").breaker("payments-api");
    assert!(rt.run(ok).await.unwrap().success());
    assert_eq!(rt.guard().breakers()[0].state, BreakerState::Closed);

    let mut seen = Vec::new();
    while let Some(EventItem::Event(e)) = events.try_next() {
        if let EventBody::BreakerOpened { .. }
        | EventBody::BreakerHalfOpen { .. }
        | EventBody::BreakerClosed { .. } = &e.body
        {
            seen.push(serde_json::to_value(&e).unwrap()["type"].clone());
        }
    }
    assert_eq!(
        seen,
        ["breaker_opened", "breaker_half_open", "breaker_closed"]
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn retries_stop_at_an_open_breaker() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let task = failing(&pids).retries(5).backoff(taskorch::Backoff::none());
    assert!(matches!(rt.run(task).await, Err(Error::CircuitOpen { .. })));
    assert_eq!(read_pids(&pids).len(), 2);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn breaker_options_out_of_range_are_invalid_tasks() {
    let rt = start_runtime().await;
    let bad = [
        Task::command("true").breaker(""),
        Task::command("true")
            .breaker("k")
            .breaker_options(BreakerOptions::default().failures(0)),
        Task::command("true")
            .breaker("k")
            .breaker_options(BreakerOptions::default().reset_timeout(Duration::ZERO)),
        Task::command("true")
            .breaker("k")
            .breaker_options(BreakerOptions::default().failure_rate(2.0, Duration::from_secs(1))),
        // Options without a key.
        Task::command("true").breaker_options(BreakerOptions::default()),
    ];
    for task in bad {
        let err = rt.run(task.clone()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidTask(_)), "{task:?}: {err}");
    }
    assert!(rt.guard().breakers().is_empty());
    rt.shutdown().await.unwrap();
}
