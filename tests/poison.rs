//! Poison values: durations no clock can hold (`Duration::MAX`, a jobs
//! file's `300000000000y`), a deserialized backoff with a negative jitter.
//! Each is refused where it enters with `Error::InvalidDuration` naming the
//! field, or works; no actor panics (they used to, over and over, until
//! the supervisor gave up on them).

use std::future::Future;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use taskorch::batch::BatchSpec;
use taskorch::guard::BreakerOptions;
use taskorch::task::duration;
use taskorch::{
    Backoff, ChildState, Config, Error, Orchestrator, PoolSpec, ScheduleSpec, Task, Trigger,
};

use crate::common::*;

async fn answered<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the caller is answered, never left hanging")
}

fn refused<T: std::fmt::Debug>(result: taskorch::Result<T>, named: &str) {
    match result {
        Err(Error::InvalidDuration { field, limit, .. }) => {
            assert!(field.starts_with(named), "{field} is not {named}");
            assert!(
                limit.contains("100 years") || limit.contains("from 0 to 1"),
                "{limit}"
            );
        }
        other => panic!("expected InvalidDuration for {named}, got {other:?}"),
    }
}

/// Every child up, none ever restarted: nothing panicked.
async fn nothing_crashed(rt: &Runtime) {
    let status = answered(rt.system_status()).await.unwrap();
    for child in &status.children {
        assert_eq!(child.state, ChildState::Running, "{child:?}");
        assert_eq!(child.restarts, 0, "{child:?}");
    }
}

fn noop(orch: &Orchestrator) {
    orch.register_action("noop", |_: Value| async { Ok::<_, String>(Value::Null) });
}

#[tokio::test]
async fn schedules_pools_batches_and_backoffs_refuse_duration_max() {
    let rt = start_runtime().await;
    let task = || Task::command("true");
    refused(
        answered(rt.schedule(ScheduleSpec::new(
            "every",
            Trigger::every(Duration::MAX),
            task(),
        )))
        .await,
        "Trigger::every",
    );
    let cron = Trigger::cron("* * * * *").unwrap();
    refused(
        answered(rt.schedule(ScheduleSpec::new("cron", cron, task()).jitter(Duration::MAX))).await,
        "ScheduleSpec::jitter",
    );
    refused(
        answered(rt.pool(PoolSpec::command("p", "cat").request_timeout(Duration::MAX))).await,
        "PoolSpec::request_timeout",
    );
    refused(
        answered(rt.pool(PoolSpec::command("p", "cat").max_age(Duration::MAX))).await,
        "PoolSpec::max_age",
    );
    refused(
        answered(rt.start_batch(BatchSpec::new(vec![task()], 1).timeout(Duration::MAX))).await,
        "BatchSpec::timeout",
    );
    let huge = Backoff::exponential(Duration::from_millis(1), Duration::MAX);
    refused(
        answered(rt.run(Task::command("false").retries(1).backoff(huge))).await,
        "Task::backoff",
    );
    // A backoff read from a file was never clamped by `with_jitter`.
    let negative: Backoff = serde_json::from_value(json!({
        "initial": {"secs": 0, "nanos": 1_000_000},
        "max": {"secs": 1, "nanos": 0},
        "factor": 2,
        "jitter": -0.5,
    }))
    .unwrap();
    for retry in [0, 1, 2, 40] {
        assert!(negative.delay(retry) <= Duration::from_secs(1));
    }
    refused(
        answered(rt.run(Task::command("false").retries(1).backoff(negative))).await,
        "Task::backoff",
    );
    assert!(rt.runs().is_empty(), "a refused task never becomes a run");
    nothing_crashed(&rt).await;
}

#[tokio::test]
async fn a_config_with_duration_max_is_refused_at_start() {
    type Poison = fn(&mut Config);
    let cases: [(&str, Poison); 3] = [
        ("Config::restart_wait", |c| c.restart_wait = Duration::MAX),
        ("Config::kill_grace", |c| c.kill_grace = Duration::MAX),
        ("Config::shutdown_grace", |c| {
            c.shutdown_grace = Duration::MAX
        }),
    ];
    for (field, poison) in cases {
        let mut config = fast_config();
        poison(&mut config);
        refused(
            answered(Orchestrator::start(config)).await.map(|_| ()),
            field,
        );
    }
}

#[test]
fn exponential_backoff_stays_at_its_maximum_past_retry_32() {
    let backoff = Backoff::exponential(Duration::from_millis(1), Duration::from_secs(3600));
    let delays: Vec<Duration> = (1..=100).map(|r| backoff.base_delay(r)).collect();
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert_eq!(backoff.base_delay(33), Duration::from_secs(3600));
    assert_eq!(backoff.base_delay(u32::MAX), Duration::from_secs(3600));
}

/// Zero, the limit and either side of it, `Duration::MAX`, and anything.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(duration::MAX),
        Just(duration::MAX + Duration::from_nanos(1)),
        Just(Duration::MAX),
        (0u64..10, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// A refusal of a bad duration: the typed error, or `InvalidTask` /
/// `InvalidConfig` for a zero one.
fn clean<T: std::fmt::Debug>(result: taskorch::Result<T>, d: &[Duration]) {
    match result {
        Ok(_) => assert!(d.iter().all(|d| *d <= duration::MAX), "{d:?} accepted"),
        Err(Error::InvalidDuration { .. }) => {
            assert!(
                d.iter().any(|d| *d > duration::MAX),
                "{d:?} refused as too long"
            )
        }
        Err(Error::InvalidTask(_) | Error::InvalidConfig(_)) => {}
        Err(other) => panic!("{d:?}: unexpected {other:?}"),
    }
}

proptest! {
    #[test]
    fn every_builder_that_takes_a_duration_checks_it_without_panicking(
        a in any_duration(),
        b in any_duration(),
        c in any_duration(),
        jitter in any::<f64>(),
        retry in prop_oneof![Just(0u32), Just(33), Just(u32::MAX), any::<u32>()],
    ) {
        let backoff = Backoff::exponential(b, c).with_jitter(jitter);
        let _ = backoff.delay(retry);
        let _ = Backoff::fixed(a).delay(retry);
        clean(Task::command("true").timeout(a).backoff(backoff).validate(), &[a, b, c.max(b)]);
        let every = ScheduleSpec::new("s", Trigger::every(a), Task::command("true"))
            .jitter(b)
            .grace(c);
        clean(every.validate(), &[a, b, c]);
        let cron = ScheduleSpec::new("s", Trigger::cron("* * * * *").unwrap(), Task::command("true"))
            .jitter(b);
        clean(cron.validate(), &[b]);
        clean(PoolSpec::command("p", "cat").request_timeout(a).max_age(b).validate(), &[a, b]);
        clean(BatchSpec::new(vec![], 1).timeout(a).validate(), &[a]);
        clean(
            BreakerOptions::default().reset_timeout(a).failure_rate(0.5, b).validate("k"),
            &[a, b],
        );
        let config = Config { kill_grace: a, shutdown_grace: b, restart_wait: c, ..Config::default() };
        clean(config.validate(), &[a, b, c]);
    }
}

proptest! {
    // Live runs are slower: fewer cases, one runtime for all of them.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn runs_and_schedules_with_any_duration_work_or_are_refused(
        a in any_duration(),
        b in any_duration(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let orch = start_runtime().await;
            noop(&orch);
            let run = answered(orch.run(Task::action("noop", json!(null)).timeout(a))).await;
            match &run {
                Ok(out) => assert!(out.success()),
                Err(_) => clean(run.map(|_| ()), &[a]),
            }
            let spec = ScheduleSpec::new("s", Trigger::every(a), Task::action("noop", json!(null)))
                .jitter(b);
            match answered(orch.schedule(spec)).await {
                Ok(schedule) => answered(schedule.remove()).await.unwrap(),
                refusal => clean(refusal.map(|_| ()), &[a, b]),
            }
            nothing_crashed(&orch).await;
        });
    }
}

/// The limit itself is accepted everywhere, and every deadline computed
/// from it saturates: the runtime works with it.
#[tokio::test]
async fn the_longest_accepted_durations_work() {
    let long = duration::MAX;
    let rt = start_with(Config {
        restart_wait: long,
        status_timeout: long,
        ..fast_config()
    })
    .await;
    noop(&rt);
    let task = || Task::action("noop", json!(null));
    let out = answered(
        rt.run(
            task()
                .timeout(long)
                .retries(1)
                .backoff(Backoff::fixed(long)),
        ),
    )
    .await;
    assert!(out.unwrap().success());
    let every = answered(
        rt.schedule(
            ScheduleSpec::new("every", Trigger::every(long), task())
                .jitter(long - Duration::from_secs(1))
                .grace(long),
        ),
    )
    .await
    .unwrap();
    let cron = answered(rt.schedule(
        ScheduleSpec::new("cron", Trigger::cron("* * * * *").unwrap(), task()).jitter(long),
    ))
    .await
    .unwrap();
    assert!(every.info().next_due.is_some() && cron.info().next_due.is_some());
    let pool = answered(
        rt.pool(
            PoolSpec::command("p", "cat")
                .request_timeout(long)
                .max_age(long),
        ),
    )
    .await
    .unwrap();
    assert_eq!(answered(pool.request("hi")).await.unwrap(), "hi");
    let results = answered(rt.start_batch(BatchSpec::new(vec![task()], 1).timeout(long)))
        .await
        .unwrap();
    let results = answered(results.wait()).await;
    assert!(results.into_iter().all(|r| r.unwrap().success()));
    nothing_crashed(&rt).await;
    answered(pool.close()).await.unwrap();
}
