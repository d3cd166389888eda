//! Cron schedules on the simulated wall clock: DST, missed ticks.

use super::*;

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
