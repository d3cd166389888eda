//! Unit tests of the service module: start order and cycle detection,
//! spec checks, the store record's round trip, the keeper on paused time.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::durable::ServiceRow;
use super::order::order;
use super::*;
use crate::context::{Context, Limits};
use crate::registry::Retention;
use crate::supervisor::Restart;

fn spec(name: &str, after: &[&str]) -> ServiceSpec {
    let mut s = ServiceSpec::command(name, "/bin/sh");
    for a in after {
        s = s.after(*a);
    }
    s
}

fn names(specs: &[ServiceSpec]) -> Vec<&str> {
    specs.iter().map(|s| s.name()).collect()
}

#[test]
fn dependencies_start_first_and_declared_order_holds_otherwise() {
    let specs = vec![
        spec("web", &["api"]),
        spec("cache", &[]),
        spec("api", &["db", "cache"]),
        spec("db", &[]),
    ];
    let ordered = order(specs, &HashSet::new()).unwrap();
    assert_eq!(names(&ordered), ["cache", "db", "api", "web"]);
}

#[test]
fn a_dependency_on_an_existing_service_is_known() {
    let existing: HashSet<String> = ["db".to_string()].into();
    let ordered = order(vec![spec("api", &["db"])], &existing).unwrap();
    assert_eq!(names(&ordered), ["api"]);
    assert!(matches!(
        order(vec![spec("db", &[])], &existing),
        Err(Error::ServiceExists(n)) if n == "db"
    ));
}

#[test]
fn cycles_are_named_from_where_they_close() {
    let specs = vec![
        spec("ok", &[]),
        spec("a", &["ok", "b"]),
        spec("b", &["c"]),
        spec("c", &["a"]),
    ];
    match order(specs, &HashSet::new()) {
        Err(Error::ServiceCycle { path }) => assert_eq!(path, ["a", "b", "c", "a"]),
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert!(matches!(
        order(vec![spec("a", &["zz"])], &HashSet::new()),
        Err(Error::UnknownServiceDependency { service, dependency })
            if service == "a" && dependency == "zz"
    ));
    assert!(matches!(
        order(vec![spec("a", &[]), spec("a", &[])], &HashSet::new()),
        Err(Error::ServiceExists(_))
    ));
}

#[test]
fn spec_checks_name_the_setting() {
    let reason = |s: ServiceSpec| match s.validate() {
        Err(Error::InvalidService { reason, .. }) => reason,
        other => panic!("expected InvalidService, got {other:?}"),
    };
    assert!(reason(spec("", &[])).contains("name"));
    assert!(reason(spec("a", &[]).intensity(1, Duration::ZERO)).contains("window"));
    assert!(reason(spec("a", &[]).start_timeout(Duration::ZERO)).contains("start_timeout"));
    assert!(reason(spec("a", &[]).ready(Readiness::Tcp(0))).contains("port 0"));
    assert!(reason(spec("a", &[]).ready(Readiness::Line(String::new()))).contains("empty"));
    assert!(
        reason(spec("a", &[]).liveness(Liveness::Probe {
            probe: Readiness::Started,
            every: Duration::from_secs(1)
        }))
        .contains("checks nothing")
    );
    assert!(
        reason(
            ServiceSpec::action("a", || async { Ok(()) }).liveness(Liveness::Heartbeat {
                line: "x".into(),
                within: Duration::from_secs(1)
            })
        )
        .contains("heartbeat")
    );
    assert!(
        reason(spec("a", &[]).liveness(Liveness::Heartbeat {
            line: "x".into(),
            within: Duration::ZERO
        }))
        .contains("interval")
    );
    spec("a", &[]).validate().unwrap();
}

#[test]
fn the_store_record_round_trips_every_setting() {
    let original = spec("api", &["db"])
        .args(["-c", "exec sleep 1"])
        .requires("cache")
        .restart(Restart::Transient)
        .intensity(7, Duration::from_secs(42))
        .ready(Readiness::Http("http://127.0.0.1:1/h".into()))
        .liveness(Liveness::Heartbeat {
            line: "tick".into(),
            within: Duration::from_secs(3),
        })
        .stop_signal(crate::process::StopSignal::Quit)
        .stop_grace(Duration::from_millis(1500))
        .escalation(Escalation::Unhealthy)
        .group("g")
        .strategy(crate::supervisor::Strategy::RestForOne);
    let row = ServiceRow::new(&original, 3, Some("exit 1".into()));
    let bytes = crate::store::encode_record(&row);
    let back: ServiceRow = crate::store::decode_record(&bytes).unwrap();
    assert_eq!(back.order, 3);
    assert_eq!(back.failed.as_deref(), Some("exit 1"));
    assert!(!back.comes_back());
    let restored = back.spec("api").unwrap();
    assert_eq!(format!("{restored:?}"), format!("{original:?}"));
    assert_eq!(restored.escalation, Escalation::Unhealthy);
    assert_eq!(restored.group.as_deref(), Some("g"));
    // An action keeps only its failure.
    let action = ServiceRow::new(&ServiceSpec::action("f", || async { Ok(()) }), 0, None);
    assert!(action.spec("f").is_none());
}

fn services() -> Services {
    Services::new(Context::new(Limits::default(), Retention::default()))
}

#[tokio::test(start_paused = true)]
async fn the_first_restart_in_the_window_is_immediate_and_later_ones_back_off() {
    let services = services();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    // Fails at once three times, then runs for good.
    let svc = services
        .supervise(
            ServiceSpec::action("a", move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        Err(format!("failure {n}"))
                    } else {
                        std::future::pending().await
                    }
                }
            })
            .intensity(3, Duration::from_secs(10))
            .backoff(crate::task::Backoff::fixed(Duration::from_secs(2))),
        )
        .unwrap();
    let started = tokio::time::Instant::now();
    svc.wait_ready().await.unwrap();
    while calls.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Restart 1 at once, 2 and 3 after 2 s each.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(svc.status().restarts, 3);
    assert_eq!(svc.status().state, ServiceState::Ready);
    services.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_stops_it_and_start_clears_the_failure() {
    let services = services();
    let svc = services
        .supervise(
            ServiceSpec::action("b", || async { Err::<(), _>("no".to_string()) })
                .intensity(5, Duration::from_secs(60))
                .backoff(crate::task::Backoff::fixed(Duration::from_secs(30))),
        )
        .unwrap();
    // The first restart is immediate, the second waits 30 s.
    while svc.status().restarts < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(svc.status().state, ServiceState::Restarting);
    svc.stop().await.unwrap();
    assert_eq!(svc.status().state, ServiceState::Stopped);
    assert!(matches!(
        svc.wait_ready().await,
        Err(Error::ServiceStopped(_))
    ));
    svc.start().await.unwrap();
    assert_ne!(svc.status().state, ServiceState::Stopped);
    services.shutdown().await;
}
