//! The scheduler under crashes: schedules live outside the actor, so a
//! forced restart keeps every schedule's state and next due time, fires no
//! tick twice and loses none; runs in flight end `Interrupted`, their
//! processes reaped.

#![cfg(feature = "fault-injection")]

use std::time::{Duration, SystemTime};

use chrono::{TimeZone, Utc};
use serde_json::json;
use taskorch::schedule::Clock;
use taskorch::{
    ChildState, Config, Error, Fault, RunStatus, Schedule, ScheduleSpec, Task, Trigger,
};

use crate::common::*;

const S: Duration = Duration::from_secs(1);

async fn scheduler_restarts(rt: &Runtime) -> u32 {
    let status = rt.system_status().await.unwrap();
    let child = status.child("scheduler").unwrap();
    assert_eq!(child.state, ChildState::Running, "{child:?}");
    child.restarts
}

async fn simulated() -> Runtime {
    let start: SystemTime = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap().into();
    let rt = start_with(Config {
        clock: Clock::simulated(start),
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    rt
}

fn noop() -> Task {
    Task::action("noop", json!(null))
}

async fn runs_reach(s: &Schedule, n: u64) {
    assert!(
        settle_until(|| s.info().runs >= n).await,
        "expected {n} runs: {:?}",
        s.info()
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_every_schedule_and_fires_no_tick_twice() {
    let rt = simulated().await;
    let every = rt
        .schedule(ScheduleSpec::new("every", Trigger::every(S * 10), noop()))
        .await
        .unwrap();
    let off = rt
        .schedule(ScheduleSpec::new("off", Trigger::every(S * 10), noop()))
        .await
        .unwrap();
    off.disable().await.unwrap();
    let cron = rt
        .schedule(ScheduleSpec::new(
            "cron",
            Trigger::cron("*/15 * * * * *").unwrap(),
            noop(),
        ))
        .await
        .unwrap();
    advance(S * 10 + Duration::from_millis(1)).await;
    runs_reach(&every, 1).await;
    assert!(settle_until(|| every.info().in_flight == 0).await);
    let before: Vec<_> = [&every, &off, &cron].map(|s| s.info()).into();

    // The status probe is the message that panics.
    rt.inject_fault("scheduler", Fault::PanicNextMessage);
    let _ = rt.system_status().await.unwrap();
    assert_eq!(scheduler_restarts(&rt).await, 1);

    let after: Vec<_> = [&every, &off, &cron].map(|s| s.info()).into();
    assert_eq!(after, before, "same state, counters and next due times");
    assert!(!off.info().enabled);

    // The next ticks fire once each, on the same pace as before.
    advance(S * 5).await;
    runs_reach(&cron, 1).await;
    advance(S * 5).await;
    runs_reach(&every, 2).await;
    advance(S).await;
    assert_eq!(every.info().runs, 2, "no tick fired twice");
    assert_eq!(cron.info().runs, 1);
    assert_eq!(off.info().runs, 0);
    assert_eq!(every.info().missed, 0);

    // A request being handled when the scheduler dies fails; the next works.
    rt.inject_fault("scheduler", Fault::PanicNextMessage);
    let err = off.enable().await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "scheduler"),
        "{err:?}"
    );
    off.enable().await.unwrap();
    assert!(off.info().enabled);
    assert_eq!(scheduler_restarts(&rt).await, 2);
}

#[tokio::test(start_paused = true)]
async fn a_tick_that_crashes_the_scheduler_fires_once_after_the_restart() {
    let rt = simulated().await;
    let s = rt
        .schedule(ScheduleSpec::new("tick", Trigger::every(S * 10), noop()))
        .await
        .unwrap();
    let due = s.info().next_due;
    // The tick message itself panics.
    rt.inject_fault("scheduler", Fault::PanicNextMessage);
    advance(S * 10 + Duration::from_millis(1)).await;
    runs_reach(&s, 1).await;
    advance(Duration::from_millis(100)).await;
    let info = s.info();
    assert_eq!(
        (info.runs, info.missed),
        (1, 0),
        "fired once, late but on time"
    );
    assert_eq!(info.next_due, due.map(|d| d + S * 10));
    assert_eq!(scheduler_restarts(&rt).await, 1);
}

#[tokio::test]
async fn runs_in_flight_when_the_scheduler_dies_are_interrupted_not_orphaned() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let s = long_schedule_recording_pids(&rt, &pids).await;
    let pids = wait_for_pids(&pids, 2).await;
    let due = s.info().next_due;

    rt.inject_fault("scheduler", Fault::PanicNextMessage);
    let _ = rt.system_status().await.unwrap();
    assert_all_dead(&pids).await;
    assert!(wait_until(Duration::from_secs(10), || s.info().in_flight == 0).await);
    let info = s.info();
    assert_eq!(info.last.unwrap().status, RunStatus::Interrupted);
    assert_eq!((info.runs, info.failures), (1, 1));
    assert!(info.enabled);
    // Read on the system clock, an interval tick's wall time wobbles by the
    // microseconds between two clock reads; the tick itself is unchanged.
    let (due, now_due) = (due.unwrap(), info.next_due.unwrap());
    let wobble = now_due.duration_since(due).unwrap_or_else(|e| e.duration());
    assert!(
        wobble < Duration::from_millis(5),
        "the next tick is unchanged: {wobble:?}"
    );
    assert_eq!(scheduler_restarts(&rt).await, 1);
}
