//! Removing a schedule, dropping its handle, listing, shutdown.

use super::*;

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
    assert!(rt.observe().schedules().find("gone").is_none());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_does_not_remove_the_schedule() {
    let rt = paused_runtime().await;
    drop(
        rt.schedule(ScheduleSpec::new("kept", Trigger::every(S), noop()))
            .await
            .unwrap(),
    );
    let s = rt.observe().schedules().find("kept").expect("still there");
    for n in 1..=3 {
        advance(S).await;
        runs_reach(&s, n).await;
    }
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
        .observe()
        .schedules()
        .list()
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
    advance(S).await;
    let (a, b) = (
        rt.observe().schedules().find("a").unwrap(),
        rt.observe().schedules().find("b").unwrap(),
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
    let s = long_schedule_recording_pids(&rt, &pids).await;
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
