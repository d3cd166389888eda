//! Overlap policies (skip, queue, allow), disabling with a run pending, retries.

use super::*;

#[tokio::test(start_paused = true)]
async fn overlap_skip_counts_skipped_ticks() {
    let rt = paused_runtime().await;
    let gate = register_gate(&rt, "gate");
    let s = rt
        .schedule(ScheduleSpec::new(
            "slow",
            Trigger::every(S),
            Task::action("gate", json!(null)),
        ))
        .await
        .unwrap();
    advance(S).await;
    runs_reach(&s, 1).await;
    for _ in 0..3 {
        advance(S).await;
    }
    let info = s.info();
    assert_eq!((info.runs, info.skipped, info.in_flight), (1, 3, 1));
    gate.add_permits(1);
    assert!(settle_until(|| s.info().in_flight == 0).await);
    advance(S).await;
    runs_reach(&s, 2).await;
    gate.add_permits(1);
}

#[tokio::test(start_paused = true)]
async fn overlap_queue_keeps_one_pending_run() {
    let rt = paused_runtime().await;
    let gate = register_gate(&rt, "gate");
    let s = rt
        .schedule(
            ScheduleSpec::new(
                "queued",
                Trigger::every(S),
                Task::action("gate", json!(null)),
            )
            .overlap(Overlap::Queue),
        )
        .await
        .unwrap();
    advance(S).await;
    runs_reach(&s, 1).await;
    advance(S).await;
    assert!(s.info().pending);
    advance(S).await;
    let info = s.info();
    assert_eq!((info.runs, info.skipped, info.pending), (1, 1, true));

    // The pending run starts as soon as the first ends, between ticks.
    gate.add_permits(1);
    runs_reach(&s, 2).await;
    let info = s.info();
    assert_eq!((info.in_flight, info.pending), (1, false));
    gate.add_permits(1);
    assert!(settle_until(|| s.info().in_flight == 0).await);
    assert_eq!(s.info().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn overlap_allow_runs_alongside() {
    let rt = paused_runtime().await;
    let gate = register_gate(&rt, "gate");
    let s = rt
        .schedule(
            ScheduleSpec::new("many", Trigger::every(S), Task::action("gate", json!(null)))
                .overlap(Overlap::Allow),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        advance(S).await;
    }
    runs_reach(&s, 3).await;
    assert_eq!(s.info().in_flight, 3);
    gate.add_permits(3);
    assert!(settle_until(|| s.info().in_flight == 0).await);
}

#[tokio::test(start_paused = true)]
async fn disabling_drops_a_pending_run() {
    let rt = paused_runtime().await;
    let gate = register_gate(&rt, "gate");
    let s = rt
        .schedule(
            ScheduleSpec::new("q", Trigger::every(S), Task::action("gate", json!(null)))
                .overlap(Overlap::Queue),
        )
        .await
        .unwrap();
    advance(S).await;
    advance(S).await;
    assert!(s.info().pending);
    s.disable().await.unwrap();
    let info = s.info();
    assert_eq!((info.pending, info.skipped), (false, 1));
    gate.add_permits(1);
    assert!(settle_until(|| s.info().in_flight == 0).await);
    settle().await;
    assert_eq!(s.info().runs, 1, "the dropped run never starts");
}

#[tokio::test(start_paused = true)]
async fn failed_runs_are_retried_with_the_task_backoff_then_counted() {
    let rt = paused_runtime().await;
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    rt.register_action("flaky", move |_| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            // Fails every first attempt of a run.
            if n.is_multiple_of(2) {
                Err("transient".to_string())
            } else {
                Ok(json!(n))
            }
        }
    });
    rt.register_action("broken", |_| async {
        Err::<serde_json::Value, _>("always".into())
    });
    let retry = Task::action("flaky", json!(null))
        .retries(1)
        .backoff(Backoff::fixed(S / 10));
    let flaky = rt
        .schedule(ScheduleSpec::new("flaky", Trigger::every(S * 10), retry))
        .await
        .unwrap();
    let broken = rt
        .schedule(ScheduleSpec::new(
            "broken",
            Trigger::every(S * 10),
            Task::action("broken", json!(null))
                .retries(2)
                .backoff(Backoff::fixed(S / 10)),
        ))
        .await
        .unwrap();
    advance(S * 10).await;
    for _ in 0..3 {
        advance(S / 10).await;
    }
    assert!(settle_until(|| flaky.info().in_flight == 0 && broken.info().in_flight == 0).await);
    let info = flaky.info();
    assert_eq!((info.runs, info.failures), (1, 0));
    assert_eq!(info.last.unwrap().attempts, 2);
    let info = broken.info();
    assert_eq!((info.runs, info.failures), (1, 1));
    let last = info.last.unwrap();
    assert_eq!((last.status, last.attempts), (RunStatus::Failed, 3));
}
