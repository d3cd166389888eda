//! The breaker state machine on paused time.

use std::time::Duration;

use super::*;
use crate::events::EventItem;
use crate::run::RunId;

fn ok() -> Result<Output> {
    let mut out = Output::empty(RunId::new());
    out.exit_code = Some(0);
    Ok(out)
}

fn failed() -> Result<Output> {
    let mut out = Output::empty(RunId::new());
    out.exit_code = Some(1);
    Ok(out)
}

fn spec(options: BreakerOptions) -> BreakerSpec {
    BreakerSpec {
        key: "payments-api".into(),
        options,
    }
}

fn attempt(breakers: &Breakers, spec: &BreakerSpec, outcome: Result<Output>) -> Result<()> {
    let trial = breakers.admit(spec)?;
    trial.record(&outcome);
    Ok(())
}

fn retry_after(result: Result<()>) -> Duration {
    match result {
        Err(Error::CircuitOpen { key, retry_after }) => {
            assert_eq!(key, "payments-api");
            retry_after
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_consecutive_failures_and_half_opens_after_the_timeout() {
    let events = Events::new(64);
    let mut stream = events.subscribe();
    let breakers = Breakers::new(events);
    let spec = spec(
        BreakerOptions::default()
            .failures(3)
            .reset_timeout(Duration::from_secs(10)),
    );
    attempt(&breakers, &spec, failed()).unwrap();
    attempt(&breakers, &spec, failed()).unwrap();
    // A success resets the count.
    attempt(&breakers, &spec, ok()).unwrap();
    for _ in 0..3 {
        attempt(&breakers, &spec, failed()).unwrap();
    }
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Open));
    assert_eq!(
        retry_after(attempt(&breakers, &spec, ok())),
        Duration::from_secs(10)
    );
    assert!(breakers.check(&spec).is_err());

    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(
        retry_after(attempt(&breakers, &spec, ok())),
        Duration::from_secs(6)
    );

    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(breakers.check(&spec).is_ok(), "due a trial");
    // One trial goes through; a second caller meanwhile fails fast.
    let trial = breakers.admit(&spec).unwrap();
    assert!(breakers.admit(&spec).is_err());
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::HalfOpen));
    trial.record(&ok());
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Closed));
    attempt(&breakers, &spec, ok()).unwrap();

    let mut kinds = Vec::new();
    while let Some(EventItem::Event(event)) = stream.try_next() {
        kinds.push(serde_json::to_value(&event).unwrap()["type"].clone());
    }
    assert_eq!(
        kinds,
        ["breaker_opened", "breaker_half_open", "breaker_closed"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_it_again() {
    let breakers = Breakers::new(Events::new(8));
    let spec = spec(
        BreakerOptions::default()
            .failures(1)
            .reset_timeout(Duration::from_secs(5)),
    );
    attempt(&breakers, &spec, failed()).unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    attempt(
        &breakers,
        &spec,
        Err(Error::Spawn {
            program: "x".into(),
            source: std::sync::Arc::new(std::io::Error::other("boom")),
        }),
    )
    .unwrap();
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Open));
    assert_eq!(
        retry_after(attempt(&breakers, &spec, ok())),
        Duration::from_secs(5)
    );
    assert_eq!(breakers.status()[0].opened, 2);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_or_cancelled_trial_frees_the_slot() {
    let breakers = Breakers::new(Events::new(8));
    let spec = spec(
        BreakerOptions::default()
            .failures(1)
            .reset_timeout(Duration::from_secs(1)),
    );
    attempt(&breakers, &spec, failed()).unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    drop(breakers.admit(&spec).unwrap());
    attempt(&breakers, &spec, Err(Error::Cancelled { run: None })).unwrap();
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::HalfOpen));
    attempt(&breakers, &spec, ok()).unwrap();
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn opens_on_the_failure_rate_over_the_window() {
    let breakers = Breakers::new(Events::new(8));
    let spec = spec(
        BreakerOptions::default()
            .failures(100)
            .failure_rate(0.5, Duration::from_secs(10))
            .min_calls(4),
    );
    // Alternating outcomes never make 100 in a row, but half fail.
    attempt(&breakers, &spec, ok()).unwrap();
    attempt(&breakers, &spec, failed()).unwrap();
    attempt(&breakers, &spec, ok()).unwrap();
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Closed));
    attempt(&breakers, &spec, failed()).unwrap();
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn old_outcomes_leave_the_window() {
    let breakers = Breakers::new(Events::new(8));
    let spec = spec(
        BreakerOptions::default()
            .failures(100)
            .failure_rate(0.5, Duration::from_secs(10))
            .min_calls(2),
    );
    attempt(&breakers, &spec, failed()).unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    attempt(&breakers, &spec, ok()).unwrap();
    attempt(&breakers, &spec, ok()).unwrap();
    attempt(&breakers, &spec, failed()).unwrap();
    // 1 of 3 in the window: under the rate.
    assert_eq!(breakers.state("payments-api"), Some(BreakerState::Closed));
}

#[test]
fn options_out_of_range_are_invalid_tasks() {
    let bad = [
        BreakerOptions::default().failures(0),
        BreakerOptions::default().reset_timeout(Duration::ZERO),
        BreakerOptions::default().failure_rate(0.0, Duration::from_secs(1)),
        BreakerOptions::default().failure_rate(1.5, Duration::from_secs(1)),
        BreakerOptions::default().failure_rate(f64::NAN, Duration::from_secs(1)),
        BreakerOptions::default().failure_rate(0.5, Duration::ZERO),
        BreakerOptions::default()
            .failure_rate(0.5, Duration::from_secs(1))
            .min_calls(0),
    ];
    for options in bad {
        let err = options.validate("k").unwrap_err();
        assert!(matches!(err, Error::InvalidTask(_)), "{options:?}: {err}");
    }
    assert!(matches!(
        BreakerOptions::default().validate(" "),
        Err(Error::InvalidTask(_))
    ));
    assert!(BreakerOptions::default().validate("k").is_ok());
}
