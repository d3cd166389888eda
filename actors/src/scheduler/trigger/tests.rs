//! Trigger tests: parsing, errors, time zones, daylight saving time.

use super::*;
use chrono::{NaiveDate, TimeZone};

fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    let naive = NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap();
    chrono_tz::Europe::Berlin
        .from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .into()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().into()
}

fn cron(trigger: &Trigger) -> &CronTrigger {
    match trigger.kind() {
        Kind::Cron(c) => c,
        Kind::Every(_) => panic!("not a cron trigger"),
    }
}

/// Every fire time in `(from, to]`.
fn fires(trigger: &Trigger, from: SystemTime, to: SystemTime) -> Vec<SystemTime> {
    let cache = CronCache::default();
    let mut out = Vec::new();
    let mut at = from;
    while let Some(next) = cron(trigger).next_after(&cache, at) {
        if next > to {
            break;
        }
        out.push(next);
        at = next;
    }
    out
}

#[test]
fn five_and_six_field_expressions() {
    let cache = CronCache::default();
    let t = Trigger::cron("30 3 * * *").unwrap();
    assert_eq!(
        cron(&t).next_after(&cache, utc(2026, 1, 1, 0, 0)),
        Some(utc(2026, 1, 1, 3, 30))
    );
    let t = Trigger::cron("*/15 * * * * *").unwrap();
    let start = utc(2026, 1, 1, 0, 0);
    assert_eq!(
        cron(&t).next_after(&cache, start),
        Some(start + Duration::from_secs(15))
    );
}

#[test]
fn malformed_expressions_name_the_expression_and_the_problem() {
    for (expr, needle) in [
        ("", "empty"),
        ("* * *", "fields"),
        ("61 * * * *", "minute field \"61\""),
        ("0 25 * * *", "hour field \"25\""),
        ("0 0 0 * * MON-XYZ", "day-of-week field"),
        ("* * * * * * * *", "fields"),
        ("every tuesday", ""),
        ("0 0 30 2 *", "never matches"),
    ] {
        let err = Trigger::cron(expr).unwrap_err();
        match &err {
            Error::InvalidSchedule { expression, reason } => {
                assert_eq!(expression, expr.trim(), "{err}");
                assert!(reason.contains(needle), "{expr:?}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{expr:?}: expected InvalidSchedule, got {other:?}"),
        }
    }
}

#[test]
fn unknown_time_zone_is_invalid_schedule_naming_both() {
    let err = Trigger::cron("30 3 * * *")
        .unwrap()
        .in_time_zone("Mars/Olympus_Mons")
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidSchedule { expression, reason }
            if expression == "30 3 * * *" && reason.contains("Mars/Olympus_Mons")),
        "{err:?}"
    );
    let err = Trigger::every(Duration::from_secs(1))
        .in_time_zone("Europe/Berlin")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSchedule { .. }), "{err:?}");
}

#[test]
fn spring_forward_gap_job_runs_once_at_the_end_of_the_gap() {
    // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
    let t = Trigger::cron("30 2 * * *")
        .unwrap()
        .in_time_zone("Europe/Berlin")
        .unwrap();
    let got = fires(&t, berlin(2026, 3, 28, 12, 0), berlin(2026, 3, 30, 12, 0));
    assert_eq!(
        got,
        vec![berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 30, 2, 30)],
        "once on the day of the gap, at 03:00"
    );
}

#[test]
fn autumn_repeated_hour_job_runs_once() {
    // Europe/Berlin repeats 02:00-03:00 on 2026-10-25.
    let t = Trigger::cron("30 2 * * *")
        .unwrap()
        .in_time_zone("Europe/Berlin")
        .unwrap();
    let got = fires(&t, berlin(2026, 10, 24, 12, 0), berlin(2026, 10, 26, 12, 0));
    assert_eq!(got.len(), 2, "{got:?}");
    // The first 02:30 of the 25th is 00:30 UTC (still summer time).
    assert_eq!(got[0], utc(2026, 10, 25, 0, 30));
    assert_eq!(got[1], berlin(2026, 10, 26, 2, 30));
}

#[test]
fn wildcard_hour_jobs_keep_real_time_pace_across_changes() {
    let t = Trigger::cron("0 */30 * * * *")
        .unwrap()
        .in_time_zone("Europe/Berlin")
        .unwrap();
    // Autumn: 00:00-04:00 local is five real hours, ten half-hours.
    let got = fires(&t, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 25, 4, 0));
    assert_eq!(got.len(), 10, "{got:?}");
    // Spring: 00:00-04:00 local is three real hours, six half-hours.
    let got = fires(&t, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 29, 4, 0));
    assert_eq!(got.len(), 6, "{got:?}");
}

#[test]
fn latest_at_or_before_finds_the_last_match() {
    let cache = CronCache::default();
    let t = Trigger::cron("0 * * * *").unwrap();
    let c = cron(&t);
    assert_eq!(
        c.latest_at_or_before(&cache, utc(2026, 1, 1, 5, 59)),
        Some(utc(2026, 1, 1, 5, 0))
    );
    assert_eq!(
        c.latest_at_or_before(&cache, utc(2026, 1, 1, 5, 0)),
        Some(utc(2026, 1, 1, 5, 0))
    );
}

#[test]
fn the_cron_cache_shares_patterns_and_stays_bounded() {
    let cache = CronCache::default();
    let a = cache.get("0 3 * * *").unwrap();
    assert!(Arc::ptr_eq(&a, &cache.get("0 3 * * *").unwrap()));
    for minute in 0..60 {
        for hour in 0..10 {
            cache.get(&format!("{minute} {hour} * * *")).unwrap();
        }
    }
    assert!(cache.parsed.lock().len() <= CronCache::CAPACITY);
    assert!(cache.get("not a cron").is_none());
}

#[test]
fn display_and_accessors() {
    let t = Trigger::every(Duration::from_secs(5)).immediately();
    assert_eq!(t.to_string(), "every 5s, immediately");
    assert_eq!(t.interval(), Some(Duration::from_secs(5)));
    assert!(t.expression().is_none() && t.time_zone().is_none());
    let t = Trigger::cron("@daily").unwrap().in_local_time().unwrap();
    assert_eq!(t.time_zone(), Some("Local"));
    assert_eq!(t.expression(), Some("@daily"));
}
