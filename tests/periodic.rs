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

// The tests, by topic (each file uses the fixtures above).
mod bad_input;
mod cron;
mod interval;
mod lifecycle;
// Trigger now and backfill a range.
mod manual;
mod overlap;
