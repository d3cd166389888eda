//! Tick rule tests: pace, catch-up, jitter, first tick.

use super::*;
use crate::scheduler::trigger::Trigger;
use crate::task::Task;
use chrono::{TimeZone, Utc};
use serde_json::json;

const S: Duration = Duration::from_secs(1);

fn every(secs: u64) -> ScheduleSpec {
    ScheduleSpec::new(
        "t",
        Trigger::every(S * secs as u32),
        Task::action("a", json!(null)),
    )
}

fn mono(nominal: Instant) -> Due {
    Due::Mono {
        nominal,
        at: nominal,
    }
}

#[test]
fn on_time_tick_fires_and_the_next_keeps_the_pace() {
    let spec = every(10);
    let t0 = Instant::now();
    let plan = plan(
        &spec,
        mono(t0),
        t0 + S / 2,
        SystemTime::now(),
        &CronCache::default(),
    );
    assert_eq!(
        plan,
        Plan {
            fire: true,
            missed: 0,
            next: Some(mono(t0 + S * 10)),
        },
        "a little late still fires, and the pace is not shifted"
    );
}

#[test]
fn several_due_ticks_fire_once_at_most() {
    let spec = every(10);
    let t0 = Instant::now();
    // 35 s late: ticks at 0, 10, 20, 30 are due; 30 is 5 s late.
    let plan = plan(
        &spec,
        mono(t0),
        t0 + S * 35,
        SystemTime::now(),
        &CronCache::default(),
    );
    assert!(!plan.fire, "the latest is past the grace: skipped");
    assert_eq!(plan.missed, 4);
    assert_eq!(plan.next, Some(mono(t0 + S * 40)));
    // 30.5 s late: the latest (30) is within the grace and fires.
    let plan = super::plan(
        &spec,
        mono(t0),
        t0 + S * 30 + S / 2,
        SystemTime::now(),
        &CronCache::default(),
    );
    assert!(plan.fire);
    assert_eq!(plan.missed, 3);
    assert_eq!(plan.next, Some(mono(t0 + S * 40)));
}

#[test]
fn catch_up_last_runs_once_for_all_missed() {
    let spec = every(10).catch_up(CatchUp::Last);
    let t0 = Instant::now();
    let plan = plan(
        &spec,
        mono(t0),
        t0 + S * 35,
        SystemTime::now(),
        &CronCache::default(),
    );
    assert!(plan.fire);
    assert_eq!(plan.missed, 4);
    assert_eq!(plan.next, Some(mono(t0 + S * 40)));
    // One late tick alone is missed too, and caught up.
    let plan = super::plan(
        &spec,
        mono(t0),
        t0 + S * 5,
        SystemTime::now(),
        &CronCache::default(),
    );
    assert!(plan.fire);
    assert_eq!(plan.missed, 1);
}

#[test]
fn cron_catch_up_counts_the_missed_matches() {
    let spec = ScheduleSpec::new(
        "c",
        Trigger::cron("0 * * * *").unwrap(),
        Task::action("a", json!(null)),
    );
    let hour = |h| -> SystemTime { Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap().into() };
    let due = Due::Wall {
        nominal: hour(1),
        at: hour(1),
    };
    // The machine slept from before 01:00 to 05:20.
    let plan = plan(
        &spec,
        due,
        Instant::now(),
        hour(5) + S * 1200,
        &CronCache::default(),
    );
    assert!(!plan.fire);
    assert_eq!(plan.missed, 5, "01:00 .. 05:00");
    assert_eq!(
        plan.next,
        Some(Due::Wall {
            nominal: hour(6),
            at: hour(6)
        })
    );
}

#[test]
fn jitter_delays_within_bounds_and_never_shifts_the_pace() {
    let spec = every(10).jitter(S * 3);
    let t0 = Instant::now();
    for _ in 0..50 {
        let plan = plan(
            &spec,
            mono(t0),
            t0,
            SystemTime::now(),
            &CronCache::default(),
        );
        let Some(Due::Mono { nominal, at }) = plan.next else {
            panic!("interval schedules always have a next tick")
        };
        assert_eq!(nominal, t0 + S * 10);
        assert!(at >= nominal && at <= nominal + S * 3);
    }
}

#[test]
fn first_due_honours_immediately() {
    let t0 = Instant::now();
    let wall = SystemTime::now();
    let spec = every(5);
    assert_eq!(
        first_due(&spec, t0, wall, &CronCache::default()),
        Some(mono(t0 + S * 5))
    );
    let spec = ScheduleSpec::new(
        "t",
        Trigger::every(S * 5).immediately(),
        Task::action("a", json!(null)),
    );
    assert_eq!(
        first_due(&spec, t0, wall, &CronCache::default()),
        Some(mono(t0))
    );
}
