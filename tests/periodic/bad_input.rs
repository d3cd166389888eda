//! Bad specs, unknown work, malformed cron and zones, unique names.

use super::*;

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
    assert!(rt.observe().schedules().list().is_empty());
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
    assert_eq!(rt.observe().schedules().list().len(), 1);
}
