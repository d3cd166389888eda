//! The Periodic pattern: `orch.schedule(spec)`, on paused tokio time with
//! in-process actions (no test waits in real time), plus one real-process
//! test of shutdown with a scheduled run in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{TimeZone, Utc};
use serde_json::json;
use taskorch::schedule::{CatchUp, Clock};
use taskorch::{
    Backoff, Config, Error, Overlap, Pattern, RunStatus, Schedule, ScheduleSpec, Task, Trigger,
};

use crate::common::*;

const S: Duration = Duration::from_secs(1);

/// Let the runtime's tasks run without moving paused time.
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Yield until `cond` holds (bounded by a number of yields, not by time,
/// so paused time does not move).
async fn settle_until(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..20_000 {
        if cond() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    cond()
}

/// Move paused time forward by `d`, then let everything due run.
async fn advance(d: Duration) {
    tokio::time::advance(d).await;
    settle().await;
}

/// tokio's timer wheel rounds deadlines up to the next millisecond: a tick
/// due at `due` fires within a millisecond after it.
const WHEEL: Duration = Duration::from_millis(1);

/// Advance paused time to `due` on `clock`, plus the timer wheel's
/// rounding.
async fn advance_to(clock: &Clock, due: SystemTime) {
    advance(due.duration_since(clock.now()).unwrap_or_default() + WHEEL).await;
}

async fn runs_reach(schedule: &Schedule, n: u64) {
    assert!(
        settle_until(|| schedule.info().runs >= n).await,
        "expected {n} runs: {:?}",
        schedule.info()
    );
}

async fn paused_runtime() -> Runtime {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    rt
}

fn noop() -> Task {
    Task::action("noop", json!(null))
}

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
async fn bad_specs_are_invalid_task_and_add_nothing() {
    let rt = paused_runtime().await;
    for spec in [
        ScheduleSpec::new("zero", Trigger::every(Duration::ZERO), noop()),
        ScheduleSpec::new("", Trigger::every(S), noop()),
        ScheduleSpec::new("jitter", Trigger::every(S), noop()).jitter(S),
        ScheduleSpec::new("grace", Trigger::every(S), noop()).grace(Duration::ZERO),
        ScheduleSpec::new("task", Trigger::every(S), Task::command("")),
    ] {
        let name = spec.name().to_string();
        let err = rt.schedule(spec).await.unwrap_err();
        assert!(matches!(err, Error::InvalidTask(_)), "{name:?}: {err:?}");
    }
    let err = rt
        .schedule(ScheduleSpec::new(
            "zero",
            Trigger::every(Duration::ZERO),
            noop(),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
    assert!(rt.schedules().list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unknown_work_is_refused_when_added() {
    let rt = paused_runtime().await;
    let err = rt
        .schedule(ScheduleSpec::new(
            "a",
            Trigger::every(S),
            Task::action("nope", json!(null)),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );
    let err = rt
        .schedule(ScheduleSpec::new(
            "b",
            Trigger::every(S),
            Task::command("no-such-program-xyz"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[test]
fn malformed_cron_and_unknown_zone_are_invalid_schedule() {
    let err = Trigger::cron("61 * * * *").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidSchedule { expression, .. } if expression == "61 * * * *"),
        "{err:?}"
    );
    assert!(err.to_string().contains("61 * * * *"), "{err}");
    assert!(err.to_string().contains("minute field"), "{err}");
    let err = Trigger::cron("0 3 * *").unwrap_err();
    assert!(matches!(err, Error::InvalidSchedule { .. }), "{err:?}");
    let err = Trigger::cron("30 3 * * *")
        .unwrap()
        .in_time_zone("Europe/Atlantis")
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidSchedule { expression, reason }
            if expression == "30 3 * * *" && reason.contains("Europe/Atlantis")),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn names_are_unique_until_removed() {
    let rt = paused_runtime().await;
    let first = rt
        .schedule(ScheduleSpec::new("job", Trigger::every(S), noop()))
        .await
        .unwrap();
    let err = rt
        .schedule(ScheduleSpec::new("job", Trigger::every(S * 2), noop()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateSchedule(n) if n == "job"),
        "{err:?}"
    );

    first.remove().await.unwrap();
    let second = rt
        .schedule(ScheduleSpec::new("job", Trigger::every(S * 2), noop()))
        .await
        .unwrap();
    // The old handle names a schedule that is gone, not the new one.
    for err in [
        first.enable().await.unwrap_err(),
        first.disable().await.unwrap_err(),
        first.remove().await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::UnknownSchedule(n) if n == "job"),
            "{err:?}"
        );
    }
    assert!(second.info().enabled);
    assert_eq!(rt.schedules().list().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn removed_schedule_stops_and_keeps_its_final_info() {
    let rt = paused_runtime().await;
    let s = rt
        .schedule(ScheduleSpec::new("gone", Trigger::every(S), noop()))
        .await
        .unwrap();
    advance(S).await;
    runs_reach(&s, 1).await;
    s.remove().await.unwrap();
    advance(S * 10).await;
    let info = s.info();
    assert_eq!(info.runs, 1);
    assert!(!info.enabled && info.next_due.is_none());
    assert!(rt.schedules().find("gone").is_none());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_does_not_remove_the_schedule() {
    let rt = paused_runtime().await;
    drop(
        rt.schedule(ScheduleSpec::new("kept", Trigger::every(S), noop()))
            .await
            .unwrap(),
    );
    let s = rt.schedules().find("kept").expect("still there");
    for n in 1..=3 {
        advance(S).await;
        runs_reach(&s, n).await;
    }
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

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().into()
}

async fn simulated_runtime(start: SystemTime) -> (Runtime, Clock) {
    let clock = Clock::simulated(start);
    let rt = start_with(Config {
        clock,
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    (rt, clock)
}

/// Advance to each next due tick until `until`; return the fire times.
async fn fire_times(s: &Schedule, clock: &Clock, until: SystemTime) -> Vec<SystemTime> {
    let mut fired = Vec::new();
    while let Some(due) = s.info().next_due {
        if due > until {
            break;
        }
        let runs = s.info().runs;
        advance_to(clock, due).await;
        runs_reach(s, runs + 1).await;
        fired.push(due);
    }
    fired
}

#[tokio::test(start_paused = true)]
async fn cron_follows_the_simulated_wall_clock() {
    let (rt, clock) = simulated_runtime(utc(2026, 1, 1, 0, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "quarter-hourly",
            Trigger::cron("0 */15 * * * *").unwrap(),
            noop(),
        ))
        .await
        .unwrap();
    assert_eq!(s.info().next_due, Some(utc(2026, 1, 1, 0, 15)));
    let fired = fire_times(&s, &clock, utc(2026, 1, 1, 1, 0)).await;
    assert_eq!(
        fired,
        [15, 30, 45]
            .map(|m| utc(2026, 1, 1, 0, m))
            .into_iter()
            .chain([utc(2026, 1, 1, 1, 0)])
            .collect::<Vec<_>>()
    );
    assert_eq!(s.info().missed, 0);
}

/// A daily 02:30 Europe/Berlin job, the case both DST changes test.
async fn compact_at_0230_berlin(rt: &Runtime) -> Schedule {
    rt.schedule(ScheduleSpec::new(
        "compact",
        Trigger::cron("30 2 * * *")
            .unwrap()
            .in_time_zone("Europe/Berlin")
            .unwrap(),
        noop(),
    ))
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn daily_job_in_berlin_runs_once_on_both_dst_change_days() {
    // Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST ->
    // 02:00 CET.
    let (rt, clock) = simulated_runtime(utc(2026, 3, 28, 12, 0)).await;
    let spring = compact_at_0230_berlin(&rt).await;
    let fired = fire_times(&spring, &clock, utc(2026, 3, 31, 0, 0)).await;
    assert_eq!(
        fired,
        vec![
            utc(2026, 3, 29, 1, 0),  // 03:00 CEST: the gap's job runs once, at its end
            utc(2026, 3, 30, 0, 30), // 02:30 CEST
        ]
    );
    spring.remove().await.unwrap();

    let (rt, clock) = simulated_runtime(utc(2026, 10, 24, 12, 0)).await;
    let autumn = compact_at_0230_berlin(&rt).await;
    let fired = fire_times(&autumn, &clock, utc(2026, 10, 27, 0, 0)).await;
    assert_eq!(
        fired,
        vec![
            utc(2026, 10, 25, 0, 30), // the first 02:30 (CEST); not again at 02:30 CET
            utc(2026, 10, 26, 1, 30), // 02:30 CET
        ]
    );
    assert_eq!(autumn.info().runs, 2);
}

#[tokio::test(start_paused = true)]
async fn missed_cron_ticks_after_a_long_pause_are_skipped_or_run_once() {
    let (rt, clock) = simulated_runtime(utc(2026, 1, 1, 0, 30)).await;
    let hourly = || Trigger::cron("0 * * * *").unwrap();
    let skip = rt
        .schedule(ScheduleSpec::new("skip", hourly(), noop()))
        .await
        .unwrap();
    let last = rt
        .schedule(ScheduleSpec::new("last", hourly(), noop()).catch_up(CatchUp::Last))
        .await
        .unwrap();
    // The process could not run from 00:30 to 05:20.
    advance(S * 60 * (4 * 60 + 50)).await;
    runs_reach(&last, 1).await;
    settle().await;
    assert_eq!(clock.now(), utc(2026, 1, 1, 5, 20));
    assert_eq!((skip.info().runs, skip.info().missed), (0, 5));
    assert_eq!((last.info().runs, last.info().missed), (1, 5));
    assert_eq!(skip.info().next_due, Some(utc(2026, 1, 1, 6, 0)));
}

#[tokio::test(start_paused = true)]
async fn schedules_are_listed_by_name_and_runs_count_against_the_cap() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let gate = register_gate(&rt, "gate");
    for name in ["b", "a"] {
        rt.schedule(ScheduleSpec::new(
            name,
            Trigger::every(S),
            Task::action("gate", json!(null)),
        ))
        .await
        .unwrap();
    }
    let names: Vec<String> = rt
        .schedules()
        .list()
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
    advance(S).await;
    let (a, b) = (
        rt.schedules().find("a").unwrap(),
        rt.schedules().find("b").unwrap(),
    );
    runs_reach(&a, 1).await;
    runs_reach(&b, 1).await;
    let statuses: Vec<RunStatus> = [a.info(), b.info()]
        .iter()
        .map(|i| rt.status(i.last.as_ref().unwrap().id).unwrap())
        .collect();
    assert!(statuses.contains(&RunStatus::Running), "{statuses:?}");
    assert!(
        statuses.contains(&RunStatus::Queued),
        "one waits for the slot: {statuses:?}"
    );
    gate.add_permits(2);
    assert!(settle_until(|| a.info().in_flight + b.info().in_flight == 0).await);
    let status = rt.system_status().await.unwrap();
    assert!(status.child("scheduler").unwrap().detail.is_some());
}

#[tokio::test]
async fn shutdown_stops_schedules_and_leaves_no_process() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let s = rt
        .schedule(ScheduleSpec::new(
            "long",
            Trigger::every(Duration::from_secs(3600)).immediately(),
            Task::shell(script),
        ))
        .await
        .unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    rt.shutdown().await.unwrap();
    assert_all_dead(&pids).await;
    let last = s.info().last.unwrap();
    assert_eq!(last.status, RunStatus::Interrupted);
    assert_eq!(s.info().failures, 1);
    let err = rt
        .schedule(ScheduleSpec::new(
            "late",
            Trigger::every(S),
            Task::command("true"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
}
