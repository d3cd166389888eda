//! Runs by hand: `Schedule::trigger_now` (outside the pace, under the
//! overlap policy) and `Schedule::backfill` (the ticks of a range, capped).

use taskorch::schedule::{MAX_BACKFILL, Triggered};

use super::*;

#[tokio::test(start_paused = true)]
async fn trigger_now_starts_a_run_outside_the_pace() {
    // A simulated clock: the next due time reads the same twice.
    let (rt, _clock) = simulated_runtime(utc(2030, 1, 1, 12, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "hourly",
            Trigger::every(3600 * S),
            noop(),
        ))
        .await
        .unwrap();
    let next = s.info().next_due;
    let triggered = s.trigger_now().await.unwrap();
    let Triggered::Started(id) = triggered else {
        panic!("expected a started run, got {triggered:?}");
    };
    assert_eq!(triggered.run_id(), Some(id));
    assert!(rt.wait(id).await.unwrap().success());
    let run = rt.observe().find_run(id).unwrap();
    assert_eq!(run.pattern, Pattern::Periodic);
    assert_eq!(run.name, "hourly");
    assert!(settle_until(|| s.info().in_flight == 0).await);
    let info = s.info();
    assert_eq!((info.runs, info.failures), (1, 0));
    assert_eq!(info.last.unwrap().id, id);
    assert_eq!(info.next_due, next, "the pace is unchanged");
}

#[tokio::test(start_paused = true)]
async fn trigger_now_obeys_overlap_skip_and_queue() {
    let rt = paused_runtime().await;
    let gate = register_gate(&rt, "gate");
    let skip = rt
        .schedule(ScheduleSpec::new(
            "skip",
            Trigger::every(3600 * S),
            Task::action("gate", json!(null)),
        ))
        .await
        .unwrap();
    let first = skip.trigger_now().await.unwrap().run_id().unwrap();
    settle().await;
    assert_eq!(
        skip.trigger_now().await.unwrap(),
        Triggered::Skipped {
            running: Some(first)
        }
    );
    let info = skip.info();
    assert_eq!((info.runs, info.skipped, info.in_flight), (1, 1, 1));

    let queue = rt
        .schedule(
            ScheduleSpec::new(
                "queue",
                Trigger::every(3600 * S),
                Task::action("gate", json!(null)),
            )
            .overlap(Overlap::Queue),
        )
        .await
        .unwrap();
    queue.trigger_now().await.unwrap().run_id().unwrap();
    settle().await;
    assert_eq!(queue.trigger_now().await.unwrap(), Triggered::Queued);
    assert!(queue.info().pending);
    // Both gated runs end; the queued one then starts.
    gate.add_permits(2);
    runs_reach(&queue, 2).await;
    gate.add_permits(1);
    assert!(settle_until(|| queue.info().in_flight == 0 && skip.info().in_flight == 0).await);
    assert_eq!(skip.info().runs, 1, "the skipped trigger never ran");
}

#[tokio::test(start_paused = true)]
async fn backfill_runs_exactly_the_cron_ticks_of_the_range() {
    let (rt, _clock) = simulated_runtime(utc(2030, 1, 1, 12, 30)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "hourly",
            Trigger::cron("0 * * * *").unwrap(),
            noop(),
        ))
        .await
        .unwrap();
    // 03:00 (included) to 08:00 (excluded): 03, 04, 05, 06, 07.
    let ids = s
        .backfill(utc(2030, 1, 1, 3, 0), utc(2030, 1, 1, 8, 0))
        .await
        .unwrap();
    assert_eq!(ids.len(), 5);
    for &id in &ids {
        assert!(rt.wait(id).await.unwrap().success());
    }
    assert!(settle_until(|| s.info().in_flight == 0).await);
    assert_eq!(s.info().runs, 5);
    // Between ticks: none; an empty range: none.
    let none = s
        .backfill(utc(2030, 1, 1, 3, 1), utc(2030, 1, 1, 3, 59))
        .await
        .unwrap();
    assert!(none.is_empty());
    let t = utc(2030, 1, 1, 3, 0);
    assert!(s.backfill(t, t).await.unwrap().is_empty());
    assert_eq!(s.info().runs, 5);
}

#[tokio::test(start_paused = true)]
async fn backfill_follows_the_pace_of_an_interval_schedule() {
    let (rt, _clock) = simulated_runtime(utc(2030, 1, 1, 12, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new("ten", Trigger::every(10 * S), noop()))
        .await
        .unwrap();
    let next = s.info().next_due.unwrap();
    // The ticks at next-60s, next-50s, ..., next-10s; not `next` itself.
    let ids = s.backfill(next - 60 * S, next).await.unwrap();
    assert_eq!(ids.len(), 6);
    // A range starting just after a tick skips it.
    let ids = s.backfill(next - 60 * S + WHEEL, next).await.unwrap();
    assert_eq!(ids.len(), 5);
    assert!(settle_until(|| s.info().runs == 11 && s.info().in_flight == 0).await);
}

#[tokio::test(start_paused = true)]
async fn backfill_refuses_a_range_too_large_or_reversed() {
    let (rt, _clock) = simulated_runtime(utc(2030, 1, 1, 12, 0)).await;
    let s = rt
        .schedule(ScheduleSpec::new(
            "minutely",
            Trigger::cron("* * * * *").unwrap(),
            noop(),
        ))
        .await
        .unwrap();
    // A day of minutes: 1440 ticks, over the cap.
    let err = s
        .backfill(utc(2029, 12, 31, 0, 0), utc(2030, 1, 1, 0, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BackfillTooLarge { schedule, limit } if schedule == "minutely" && *limit == MAX_BACKFILL),
        "{err:?}"
    );
    let err = s
        .backfill(utc(2030, 1, 1, 0, 0), utc(2029, 12, 31, 0, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBackfill { schedule, .. } if schedule == "minutely"),
        "{err:?}"
    );
    // Exactly the cap is accepted.
    let from = utc(2029, 12, 31, 0, 0);
    let ids = s
        .backfill(from, from + MAX_BACKFILL as u32 * 60 * S)
        .await
        .unwrap();
    assert_eq!(ids.len(), MAX_BACKFILL);
    assert_eq!(s.info().runs, MAX_BACKFILL as u64);
}
