//! Emergency halt and resume; risk limits that halt.

use std::time::Duration;

use serde_json::json;
use taskorch::events::{EventBody, EventItem};
use taskorch::guard::{Bound, RiskLimit};
use taskorch::{Error, PoolSpec, RunStatus, ScheduleSpec, Task, Trigger};

use crate::common::{assert_all_dead, start_runtime, wait_for_pids, wait_until};

fn halted(result: taskorch::Result<impl std::fmt::Debug>, why: &str) {
    match result {
        Err(Error::Halted { reason }) => assert_eq!(reason, why),
        other => panic!("expected Halted, got {other:?}"),
    }
}

#[tokio::test]
async fn halt_cancels_every_run_kills_grandchildren_and_refuses_work_until_resume() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 30 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(rt.launch(Task::shell(script.clone())).await.unwrap());
    }
    let streaming = rt.stream(Task::shell(script.clone())).await.unwrap();
    let all = wait_for_pids(&pids, 8).await;

    let mut events = rt.observe().subscribe();
    assert_eq!(rt.guard().halt("market closed"), Some(4));
    // Halt while halted: a no-op, the first reason stays.
    assert_eq!(rt.guard().halt("again"), None);
    assert_eq!(rt.guard().halted().as_deref(), Some("market closed"));

    for id in &ids {
        assert!(matches!(rt.wait(*id).await, Err(Error::Cancelled { .. })));
        assert_eq!(rt.status(*id), Some(RunStatus::Cancelled));
    }
    assert!(matches!(
        streaming.wait().await,
        Err(Error::Cancelled { .. })
    ));
    assert_all_dead(&all).await;

    // New work of every pattern is refused, naming the reason.
    halted(rt.run(Task::command("true")).await, "market closed");
    halted(rt.launch(Task::command("true")).await, "market closed");
    halted(
        rt.stream(Task::command("true")).await.map(|s| s.run_id()),
        "market closed",
    );
    for slot in rt.run_batch(vec![Task::command("true")], 2).await {
        halted(slot, "market closed");
    }
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.halted.as_deref(), Some("market closed"));

    let Some(EventItem::Event(event)) = events.next().await else {
        panic!("no halt event");
    };
    assert_eq!(
        event.body,
        EventBody::Halted {
            reason: "market closed".into(),
            cancelled: 4
        }
    );

    assert!(rt.guard().resume());
    // Resume while running: a no-op.
    assert!(!rt.guard().resume());
    assert_eq!(rt.guard().halted(), None);
    assert!(rt.run(Task::command("true")).await.unwrap().success());
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn pool_requests_are_refused_while_halted_and_served_after_resume() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(PoolSpec::command("echo", "cat").workers(1))
        .await
        .unwrap();
    assert_eq!(pool.request("before").await.unwrap(), "before");
    rt.guard().halt("maintenance");
    halted(pool.request("during").await, "maintenance");
    halted(
        rt.observe()
            .pools()
            .find("echo")
            .unwrap()
            .request("during")
            .await,
        "maintenance",
    );
    assert!(rt.guard().resume());
    assert_eq!(pool.request("after").await.unwrap(), "after");
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn schedules_skip_their_ticks_while_halted_and_fire_again_after_resume() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let schedule = rt
        .schedule(ScheduleSpec::new(
            "tick",
            Trigger::every(Duration::from_millis(10)),
            Task::action("noop", json!(null)),
        ))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || schedule.info().runs >= 1).await);
    let mut events = rt.observe().subscribe();
    rt.guard().halt("maintenance");
    let before = schedule.info().runs;
    let skipped = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(EventItem::Event(e)) = events.next().await
                && let EventBody::ScheduleSkipped { schedule, reason } = e.body
            {
                return (schedule, reason);
            }
        }
    })
    .await
    .expect("a skipped tick");
    assert_eq!(skipped, ("tick".to_string(), "halted".to_string()));
    assert_eq!(schedule.info().runs, before, "no run started while halted");
    assert!(schedule.info().enabled, "halt pauses, it does not disable");
    rt.guard().resume();
    assert!(wait_until(Duration::from_secs(5), || schedule.info().runs > before).await);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_limit_passes_fails_and_halts_when_asked() {
    let rt = start_runtime().await;
    let mut events = rt.observe().subscribe();
    rt.guard()
        .check_limit("exposure", 10.0, 10.0, true)
        .unwrap();
    match rt.guard().check_limit("exposure", 10.5, 10.0, false) {
        Err(Error::RiskLimitExceeded {
            name,
            value,
            limit,
            bound: Bound::Ceiling,
        }) => {
            assert_eq!((name.as_str(), value, limit), ("exposure", 10.5, 10.0));
        }
        other => panic!("expected RiskLimitExceeded, got {other:?}"),
    }
    assert_eq!(rt.guard().halted(), None, "no auto_halt, no halt");
    // A value that cannot be compared does not pass.
    assert!(matches!(
        rt.guard().check_limit("exposure", f64::NAN, 10.0, false),
        Err(Error::RiskLimitExceeded { .. })
    ));
    assert!(matches!(
        rt.guard().check_limit("drawdown", 0.3, 0.2, true),
        Err(Error::RiskLimitExceeded { .. })
    ));
    let reason = rt.guard().halted().expect("auto_halt halts");
    assert!(reason.contains("drawdown"), "{reason}");
    halted(rt.run(Task::command("true")).await, &reason);

    let mut kinds = Vec::new();
    while let Some(EventItem::Event(e)) = events.try_next() {
        kinds.push(serde_json::to_value(&e).unwrap()["type"].clone());
    }
    assert_eq!(
        kinds,
        [
            "limit_exceeded",
            "limit_exceeded",
            "limit_exceeded",
            "halted"
        ]
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn registered_limits_are_checked_by_name() {
    let rt = start_runtime().await;
    rt.guard().register_limit("position", 100.0, true).unwrap();
    rt.guard().check_registered_limit("position", 99.0).unwrap();
    assert!(matches!(
        rt.guard().check_registered_limit("position", 101.0),
        Err(Error::RiskLimitExceeded { limit, .. }) if limit == 100.0
    ));
    assert!(rt.guard().halted().is_some());
    assert!(matches!(
        rt.guard().check_registered_limit("nope", 1.0),
        Err(Error::InvalidConfig(msg)) if msg.contains("nope")
    ));
    assert!(matches!(
        rt.guard().register_limit("bad", f64::INFINITY, false),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        rt.guard().register_limit(" ", 1.0, false),
        Err(Error::InvalidConfig(_))
    ));
    assert_eq!(rt.guard().risk_limits().len(), 1);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn floors_trip_below_and_ceilings_above_and_both_pass_inside() {
    let rt = start_runtime().await;
    let mut events = rt.observe().subscribe();
    let floor = RiskLimit::floor("daily_loss", -500.0);
    let ceiling = RiskLimit::ceiling("exposure", 10.0);
    // Both pass at the limit and on their safe side.
    for value in [-500.0, -499.0, 1e9] {
        rt.guard().check(&floor, value).unwrap();
    }
    for value in [10.0, -1e9] {
        rt.guard().check(&ceiling, value).unwrap();
    }
    // The natural example the old `check_limit` waved through.
    rt.guard()
        .check_limit("daily_loss", -600.0, -500.0, false)
        .unwrap();
    match rt.guard().check(&floor, -600.0) {
        Err(Error::RiskLimitExceeded {
            name,
            value,
            limit,
            bound: Bound::Floor,
        }) => assert_eq!(
            (name.as_str(), value, limit),
            ("daily_loss", -600.0, -500.0)
        ),
        other => panic!("expected a floor RiskLimitExceeded, got {other:?}"),
    }
    assert!(matches!(
        rt.guard().check(&ceiling, 10.5),
        Err(Error::RiskLimitExceeded {
            bound: Bound::Ceiling,
            ..
        })
    ));
    assert!(matches!(
        rt.guard().check(&floor, f64::NAN),
        Err(Error::RiskLimitExceeded {
            bound: Bound::Floor,
            ..
        })
    ));
    assert_eq!(rt.guard().halted(), None, "not halting, no halt");
    let mut bounds = Vec::new();
    while let Some(EventItem::Event(e)) = events.try_next() {
        if let EventBody::LimitExceeded { bound, .. } = e.body {
            bounds.push(bound);
        }
    }
    assert_eq!(bounds, [Bound::Floor, Bound::Ceiling, Bound::Floor]);

    // A registered halting floor halts, naming its side.
    rt.guard().register(floor.clone().halting()).unwrap();
    rt.guard()
        .check_registered_limit("daily_loss", -400.0)
        .unwrap();
    assert!(matches!(
        rt.guard().check_registered_limit("daily_loss", -500.5),
        Err(Error::RiskLimitExceeded {
            bound: Bound::Floor,
            ..
        })
    ));
    let reason = rt.guard().halted().expect("a halting floor halts");
    assert_eq!(reason, "risk limit daily_loss exceeded: -500.5 < -500");
    assert_eq!(rt.guard().risk_limits()[0].bound, Bound::Floor);
    assert!(matches!(
        rt.guard().check(&RiskLimit::floor("x", f64::NAN), 1.0),
        Err(Error::InvalidConfig(_))
    ));
    rt.shutdown().await.unwrap();
}
