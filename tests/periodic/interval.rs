//! Interval schedules: pace, immediately, enable/disable, catch-up, no bursts, jitter.

use super::*;

#[tokio::test(start_paused = true)]
async fn interval_runs_after_one_interval_then_keeps_the_pace() {
    let (rt, _clock) = simulated_runtime(utc(2026, 1, 1, 0, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "heartbeat",
            Trigger::every(S * 5),
            noop(),
        ))
        .await
        .unwrap();
    settle().await;
    assert_eq!(s.info().runs, 0, "nothing before the first interval");
    let due = s.info().next_due.unwrap();
    assert_eq!(due, utc(2026, 1, 1, 0, 0) + S * 5);

    advance(S * 5).await;
    runs_reach(&s, 1).await;
    let info = s.info();
    let last = info.last.clone().unwrap();
    assert_eq!(last.name, "heartbeat");
    assert_eq!(last.pattern, Pattern::Periodic);
    assert!(settle_until(|| rt.status(last.id) == Some(RunStatus::Succeeded)).await);
    assert_eq!(info.next_due.unwrap(), due + S * 5, "the pace is kept");

    advance(S * 4).await;
    assert_eq!(s.info().runs, 1);
    advance(S).await;
    runs_reach(&s, 2).await;
    advance(S * 5).await;
    runs_reach(&s, 3).await;
    advance(S * 5).await;
    runs_reach(&s, 4).await;
    let info = s.info();
    assert_eq!((info.runs, info.failures, info.missed), (4, 0, 0));
    assert!(info.enabled);
}

#[tokio::test(start_paused = true)]
async fn immediately_runs_at_once_then_every_interval() {
    let rt = paused_runtime().await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "eager",
            Trigger::every(S * 60).immediately(),
            noop(),
        ))
        .await
        .unwrap();
    runs_reach(&s, 1).await;
    advance(S * 59).await;
    assert_eq!(s.info().runs, 1);
    advance(S).await;
    runs_reach(&s, 2).await;
}

#[tokio::test(start_paused = true)]
async fn disable_pauses_and_enable_resumes_on_the_same_pace() {
    let (rt, _clock) = simulated_runtime(utc(2026, 1, 1, 0, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "pausable",
            Trigger::every(S * 10),
            noop(),
        ))
        .await
        .unwrap();
    advance(S * 10).await;
    runs_reach(&s, 1).await;
    let due = s.info().next_due.unwrap();

    s.disable().await.unwrap();
    s.disable().await.unwrap(); // idempotent
    let info = s.info();
    assert!(!info.enabled && info.next_due.is_none());
    advance(S * 35).await;
    assert_eq!(s.info().runs, 1, "no run while disabled");

    s.enable().await.unwrap();
    settle().await;
    let info = s.info();
    assert_eq!(info.runs, 1, "CatchUp::Skip: no burst, no catch-up run");
    assert_eq!(info.missed, 3, "ticks at 20, 30, 40 s were missed");
    assert_eq!(info.next_due.unwrap(), due + S * 30, "same pace as before");
    advance(S * 5).await;
    runs_reach(&s, 2).await;
}

#[tokio::test(start_paused = true)]
async fn catch_up_last_runs_once_for_ticks_missed_while_disabled() {
    let rt = paused_runtime().await;
    let s = rt
        .schedule(
            ScheduleSpec::new("catch-up", Trigger::every(S * 10), noop()).catch_up(CatchUp::Last),
        )
        .await
        .unwrap();
    s.disable().await.unwrap();
    advance(S * 45).await;
    s.enable().await.unwrap();
    runs_reach(&s, 1).await;
    settle().await;
    let info = s.info();
    assert_eq!(
        (info.runs, info.missed),
        (1, 4),
        "one run for four missed ticks"
    );
    advance(S * 5).await;
    runs_reach(&s, 2).await;
    assert_eq!(s.info().runs, 2);
}

#[tokio::test(start_paused = true)]
async fn a_busy_scheduler_never_bursts() {
    // One `advance` over several ticks is a scheduler that could not run
    // for that long (a busy process).
    let rt = paused_runtime().await;
    let skip = rt
        .schedule(ScheduleSpec::new("skip", Trigger::every(S), noop()))
        .await
        .unwrap();
    let last = rt
        .schedule(ScheduleSpec::new("last", Trigger::every(S), noop()).catch_up(CatchUp::Last))
        .await
        .unwrap();
    advance(S * 7 + S / 2 + S / 4).await;
    runs_reach(&last, 1).await;
    settle().await;
    // Ticks at 1..=7 s are due at 7.75 s; 7 s is within the 1 s grace.
    assert_eq!((skip.info().runs, skip.info().missed), (1, 6));
    assert_eq!((last.info().runs, last.info().missed), (1, 6));
    advance(S / 4).await;
    runs_reach(&skip, 2).await;
    runs_reach(&last, 2).await;
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_ticks_within_bounds() {
    let start = utc(2026, 1, 1, 0, 0);
    let (rt, clock) = simulated_runtime(start).await;
    let s = rt
        .schedule(ScheduleSpec::new("jittered", Trigger::every(S * 10), noop()).jitter(S * 2))
        .await
        .unwrap();
    for n in 1..=5 {
        let due = s.info().next_due.unwrap();
        let nominal = start + S * 10 * n;
        assert!(
            due >= nominal && due <= nominal + S * 2,
            "tick {n}: {due:?}"
        );
        advance_to(&clock, due).await;
        runs_reach(&s, u64::from(n)).await;
    }
    assert_eq!(s.info().missed, 0);
}
