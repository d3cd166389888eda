//! Supervised services: each restart policy, the restart intensity and its
//! give-up, every readiness probe kind and its time-out, liveness,
//! dependencies (order, unknown names, cycles, a dependency that fails),
//! groups, stop signals and grace, persistence across a reopen of the
//! store, and service faults. Real processes with bounded condition waits;
//! paused time where only timers matter (action services).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use taskorch::events::{EventBody, EventItem};
use taskorch::service::{Escalation, Liveness, SERVICE_LABEL, StopSignal};
use taskorch::supervision::Strategy;
use taskorch::{
    Backoff, Error, Orchestrator, Readiness, Restart, RunQuery, ServiceSpec, ServiceState,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{alive, fast_config, start_runtime, wait_for, wait_for_pids, wait_until};

/// A shell service.
fn sh(name: &str, script: &str) -> ServiceSpec {
    ServiceSpec::command(name, "/bin/sh").args(["-c", script])
}

/// A small backoff so crash loops in tests take milliseconds.
fn quick(spec: ServiceSpec) -> ServiceSpec {
    spec.backoff(Backoff::fixed(Duration::from_millis(10)))
}

fn state(orch: &Orchestrator, name: &str) -> ServiceState {
    orch.observe().services().find(name).unwrap().status().state
}

fn runs_of(orch: &Orchestrator, name: &str) -> usize {
    orch.observe()
        .find_runs(&RunQuery::new().label(SERVICE_LABEL, name))
        .len()
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_permanent_service_comes_back_after_a_crash_with_an_event_and_a_new_run() {
    let orch = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut events = orch.observe().subscribe();
    let svc = orch
        .supervise(sh(
            "worker",
            &format!("echo $$ >> {}; exec sleep 30", pids.display()),
        ))
        .await
        .unwrap();
    svc.wait_ready().await.unwrap();
    let first = wait_for_pids(&pids, 1).await[0];
    let first_run = svc.status().run_id.unwrap();
    assert_eq!(svc.status().pid, Some(first));
    taskorch::process::kill_pid(first);
    let second = wait_for_pids(&pids, 2).await[1];
    wait_for("the restarted worker to be ready", || {
        svc.status().state == ServiceState::Ready && svc.status().pid == Some(second)
    })
    .await;
    let status = svc.status();
    assert_eq!(status.restarts, 1);
    assert_ne!(status.run_id, Some(first_run));
    assert_eq!(status.last_exit.as_deref(), Some("signal 9"));
    // Every incarnation is a run in the registry, labelled with the service.
    assert_eq!(runs_of(&orch, "worker"), 2);
    let mut seen = Vec::new();
    while let Some(EventItem::Event(event)) = events.try_next() {
        match event.body {
            EventBody::ServiceStarted { .. } => seen.push("started"),
            EventBody::ServiceReady { .. } => seen.push("ready"),
            EventBody::ServiceRestarting { restarts, .. } => {
                assert_eq!(restarts, 1);
                seen.push("restarting")
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["started", "ready", "restarting", "started", "ready"]);
    orch.shutdown().await.unwrap();
    assert!(
        !alive(second),
        "the service's process outlived the shutdown"
    );
}

#[tokio::test]
async fn transient_restarts_only_on_failure_and_temporary_never() {
    let orch = start_runtime().await;
    let clean = orch
        .supervise(sh("clean", "exit 0").restart(Restart::Transient))
        .await
        .unwrap();
    wait_for("a clean transient exit to stop it", || {
        clean.status().state == ServiceState::Stopped
    })
    .await;
    assert_eq!(clean.status().restarts, 0);
    assert!(matches!(clean.wait_ready().await, Err(Error::ServiceStopped(n)) if n == "clean"));

    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("failed-once");
    // Fails the first time, then runs.
    let script = format!(
        "if [ -e {m} ]; then exec sleep 30; else touch {m}; exit 1; fi",
        m = marker.display()
    );
    let flaky = orch
        .supervise(sh("flaky", &script).restart(Restart::Transient))
        .await
        .unwrap();
    wait_for("the failed transient service to come back", || {
        flaky.status().restarts == 1 && flaky.status().state == ServiceState::Ready
    })
    .await;

    let once = orch
        .supervise(sh("once", "exit 2").restart(Restart::Temporary))
        .await
        .unwrap();
    wait_for("a failed temporary service to be failed", || {
        once.status().state == ServiceState::Failed
    })
    .await;
    assert_eq!(once.status().restarts, 0);
    assert_eq!(runs_of(&orch, "once"), 1);
}

#[tokio::test]
async fn a_crash_loop_trips_the_intensity_and_fails_with_the_last_exit_and_stderr() {
    let orch = start_runtime().await;
    let svc = orch
        .supervise(quick(
            sh("crasher", "echo 'fatal: no config' >&2; exit 3")
                .intensity(3, Duration::from_secs(30)),
        ))
        .await
        .unwrap();
    let err = svc.wait_ready().await;
    // Ready counts as started for a moment each time; wait for the end.
    wait_for("the crash loop to give up", || {
        svc.status().state == ServiceState::Failed
    })
    .await;
    let status = svc.status();
    assert_eq!(status.restarts, 3);
    let reason = status.reason.unwrap();
    assert!(reason.contains("exit 3"), "{reason}");
    assert!(reason.contains("fatal: no config"), "{reason}");
    assert!(reason.contains("more than 3 restarts"), "{reason}");
    // 1 start + 3 restarts, then nothing more: no busy loop.
    assert_eq!(runs_of(&orch, "crasher"), 4);
    // An absence (no fifth run) can only be shown over a window of real
    // time: a loaded machine can only make this pass, never fail it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs_of(&orch, "crasher"), 4);
    let _ = err;
    assert!(matches!(
        svc.wait_ready().await,
        Err(Error::ServiceFailed { service, .. }) if service == "crasher"
    ));
}

#[tokio::test]
async fn ready_on_a_line_of_output() {
    let orch = start_runtime().await;
    let svc = orch
        .supervise(
            sh(
                "web",
                "echo starting; sleep 0.3; echo 'INFO listening on :8080'; exec sleep 30",
            )
            .ready(Readiness::Line("listening on".into())),
        )
        .await
        .unwrap();
    assert_eq!(svc.status().state, ServiceState::Starting);
    let started = Instant::now();
    svc.wait_ready().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(250));
    let mut output = svc.subscribe_output().unwrap();
    assert_eq!(output.next_line().await.unwrap().text, "starting");
}

#[tokio::test]
async fn ready_when_a_tcp_port_accepts() {
    let orch = start_runtime().await;
    let port = free_port();
    let svc = orch
        .supervise(sh("tcp", "exec sleep 30").ready(Readiness::Tcp(port)))
        .await
        .unwrap();
    // Not ready while nothing listens: an absence, shown over a window of
    // real time (load can only make it pass); readiness is then waited on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(svc.status().state, ServiceState::Starting);
    let _listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), svc.wait_ready())
        .await
        .expect("ready within 10 s")
        .unwrap();
}

/// Answers every request with `status`.
async fn http_server(status: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    port
}

#[tokio::test]
async fn ready_when_an_http_get_answers_2xx_and_not_on_5xx() {
    let orch = start_runtime().await;
    let ok = http_server("204 No Content").await;
    let svc = orch
        .supervise(
            sh("http", "exec sleep 30")
                .ready(Readiness::Http(format!("http://127.0.0.1:{ok}/health"))),
        )
        .await
        .unwrap();
    svc.wait_ready().await.unwrap();

    let bad = http_server("503 Service Unavailable").await;
    let url = format!("http://127.0.0.1:{bad}/health");
    let svc = orch
        .supervise(
            sh("sick", "exec sleep 30")
                .ready(Readiness::Http(url.clone()))
                .start_timeout(Duration::from_millis(600)),
        )
        .await
        .unwrap();
    match svc.wait_ready().await {
        Err(Error::ReadinessTimedOut { service, probe, .. }) => {
            assert_eq!(service, "sick");
            assert_eq!(probe, format!("http GET {url}"));
        }
        other => panic!("expected ReadinessTimedOut, got {other:?}"),
    }
}

#[tokio::test]
async fn a_probe_that_never_succeeds_times_out_naming_it_and_stops_the_service() {
    let orch = start_runtime().await;
    let port = free_port();
    let svc = orch
        .supervise(
            sh("never", "exec sleep 30")
                .ready(Readiness::Tcp(port))
                .start_timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap();
    wait_for("the process to start", || svc.status().pid.is_some()).await;
    let pid = svc.status().pid.unwrap();
    let err = svc.wait_ready().await.unwrap_err();
    assert!(
        matches!(&err, Error::ReadinessTimedOut { probe, after, .. }
            if probe == &format!("tcp 127.0.0.1:{port}") && *after == Duration::from_millis(500)),
        "{err:?}"
    );
    assert_eq!(svc.status().state, ServiceState::Stopped);
    // Stopped, not left half-up.
    wait_for("the process to be gone", || !alive(pid)).await;
}

#[tokio::test]
async fn after_starts_a_service_once_its_dependency_is_ready() {
    let orch = start_runtime().await;
    let services = orch.observe().services();
    let handles = services
        .supervise_all(vec![
            // Declared first, but it depends on "db": started second.
            sh("api", "exec sleep 30").after("db"),
            sh("db", "sleep 0.4; echo ready; exec sleep 30").ready(Readiness::Line("ready".into())),
        ])
        .unwrap();
    let (api, db) = (&handles[0], &handles[1]);
    assert_eq!(services.names(), ["db", "api"]);
    api.wait_ready().await.unwrap();
    let db_ready = db.status().ready_at.unwrap();
    let api_started = api.status().started_at.unwrap();
    assert!(api_started >= db_ready, "api started before db was ready");
    // Reverse order at shutdown: the dependent first.
    let (api_pid, db_pid) = (api.status().pid.unwrap(), db.status().pid.unwrap());
    orch.shutdown().await.unwrap();
    assert!(!alive(api_pid) && !alive(db_pid));
    assert_eq!(api.status().state, ServiceState::Stopped);
}

#[tokio::test]
async fn a_dependent_is_stopped_when_its_dependency_fails_for_good() {
    let orch = start_runtime().await;
    let services = orch.observe().services();
    let handles = services
        .supervise_all(vec![
            quick(sh("db", "sleep 0.3; exit 1").intensity(1, Duration::from_secs(30))),
            sh("api", "exec sleep 30").after("db"),
        ])
        .unwrap();
    let api = &handles[1];
    wait_for("api to stop", || {
        state(&orch, "db") == ServiceState::Failed && api.status().state == ServiceState::Stopped
    })
    .await;
    assert!(api.status().reason.unwrap().contains("\"db\""));
}

#[tokio::test]
async fn bad_specs_are_refused_with_typed_errors_before_anything_starts() {
    let orch = start_runtime().await;
    let services = orch.observe().services();
    match services.supervise_all(vec![
        sh("a", "exec sleep 30").after("b"),
        sh("b", "exec sleep 30").after("c"),
        sh("c", "exec sleep 30").after("a"),
    ]) {
        Err(Error::ServiceCycle { path }) => assert_eq!(path, ["a", "b", "c", "a"]),
        other => panic!("expected ServiceCycle, got {other:?}"),
    }
    assert!(matches!(
        orch.supervise(sh("self", "true").after("self")).await,
        Err(Error::ServiceCycle { path }) if path == ["self", "self"]
    ));
    assert!(matches!(
        orch.supervise(sh("x", "true").after("nope")).await,
        Err(Error::UnknownServiceDependency { service, dependency })
            if service == "x" && dependency == "nope"
    ));
    assert!(matches!(
        orch.supervise(sh("z", "true").intensity(3, Duration::ZERO)).await,
        Err(Error::InvalidService { service, reason }) if service == "z" && reason.contains("window")
    ));
    assert!(matches!(
        orch.supervise(
            ServiceSpec::action("act", || async { Ok(()) }).ready(Readiness::Line("x".into()))
        )
        .await,
        Err(Error::InvalidService { .. })
    ));
    assert!(matches!(
        orch.supervise(sh("h", "true").ready(Readiness::Http("https://x/".into()))).await,
        Err(Error::InvalidService { reason, .. }) if reason.contains("https")
    ));
    assert!(matches!(
        orch.supervise(ServiceSpec::command("missing", "/no/such/program"))
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        services.names().is_empty(),
        "a refused spec started something"
    );
    orch.supervise(sh("dup", "exec sleep 30")).await.unwrap();
    assert!(matches!(
        orch.supervise(sh("dup", "exec sleep 30")).await,
        Err(Error::ServiceExists(n)) if n == "dup"
    ));
}

#[tokio::test]
async fn an_ignored_stop_signal_gets_sigkill_of_the_group_after_the_grace() {
    let orch = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The shell and a grandchild both ignore SIGTERM.
    let script = format!(
        "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ >> {p}; while :; do sleep 0.05; done' & \
         echo $$ >> {p}; while :; do sleep 0.05; done",
        p = pids.display()
    );
    let svc = orch
        .supervise(sh("stubborn", &script).stop_grace(Duration::from_millis(500)))
        .await
        .unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    let started = Instant::now();
    svc.stop().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "stopped before the grace"
    );
    assert_eq!(svc.status().state, ServiceState::Stopped);
    crate::common::assert_all_dead(&pids).await;
}

#[tokio::test]
async fn a_custom_stop_signal_is_what_the_group_gets() {
    sigint_not_ignored();
    let orch = start_runtime().await;
    let svc = orch
        .supervise(
            sh(
                "int",
                "trap 'echo got-int; exit 0' INT; trap '' TERM; echo up; while :; do sleep 0.05; done",
            )
            .stop_signal(StopSignal::Int)
            // A grace far above any stop under load: ending well inside
            // it (and the trap's line) shows SIGINT ended the service, not
            // the SIGKILL after the grace. 20 s with a 10 s bound failed
            // once in the full suite on 2 loaded cores.
            .stop_grace(Duration::from_secs(60))
            .ready(Readiness::Line("up".into())),
        )
        .await
        .unwrap();
    svc.wait_ready().await.unwrap();
    let run = svc.status().run_id.unwrap();
    let started = Instant::now();
    svc.stop().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(50),
        "SIGINT was not honoured: stopped after {took:?}"
    );
    let output = orch.output(run).unwrap();
    assert!(
        output.lines.iter().any(|l| l.text == "got-int"),
        "{output:?}"
    );
}

#[tokio::test]
async fn one_for_all_restarts_the_whole_group_and_requires_follows_its_dependency() {
    let orch = start_runtime().await;
    let services = orch.observe().services();
    let handles = services
        .supervise_all(vec![
            sh("a", "exec sleep 30")
                .group("g")
                .strategy(Strategy::OneForAll),
            sh("b", "exec sleep 30").group("g"),
            sh("c", "exec sleep 30").requires("a"),
            sh("d", "exec sleep 30"),
        ])
        .unwrap();
    for h in &handles {
        h.wait_ready().await.unwrap();
    }
    let before: Vec<_> = handles.iter().map(|h| h.status().run_id).collect();
    taskorch::process::kill_pid(handles[0].status().pid.unwrap());
    wait_for("a, b and c to run again", || {
        handles[..3]
            .iter()
            .zip(&before)
            .all(|(h, old)| h.status().run_id != *old && h.status().state == ServiceState::Ready)
    })
    .await;
    // Only the failed one counts a restart of its own.
    assert_eq!(handles[0].status().restarts, 1);
    assert_eq!(
        handles[3].status().run_id,
        before[3],
        "d is outside the group"
    );
}

#[tokio::test]
async fn rest_for_one_restarts_only_the_members_after_the_failed_one() {
    let orch = start_runtime().await;
    let services = orch.observe().services();
    let handles = services
        .supervise_all(vec![
            sh("first", "exec sleep 30").group("g"),
            sh("mid", "exec sleep 30")
                .group("g")
                .strategy(Strategy::RestForOne),
            sh("last", "exec sleep 30").group("g"),
        ])
        .unwrap();
    for h in &handles {
        h.wait_ready().await.unwrap();
    }
    let before: Vec<_> = handles.iter().map(|h| h.status().run_id).collect();
    taskorch::process::kill_pid(handles[1].status().pid.unwrap());
    wait_for("mid and last to run again", || {
        handles[1..]
            .iter()
            .zip(&before[1..])
            .all(|(h, old)| h.status().run_id != *old && h.status().state == ServiceState::Ready)
    })
    .await;
    assert_eq!(handles[0].status().run_id, before[0]);
}

#[tokio::test]
async fn a_missing_heartbeat_restarts_the_service() {
    let orch = start_runtime().await;
    let svc = orch
        .supervise(
            sh("beat", "echo tick; exec sleep 30").liveness(Liveness::Heartbeat {
                line: "tick".into(),
                within: Duration::from_millis(300),
            }),
        )
        .await
        .unwrap();
    wait_for("a restart for the missing heartbeat", || {
        svc.status().restarts >= 1
    })
    .await;
    assert!(
        svc.status()
            .last_exit
            .unwrap()
            .contains("no heartbeat line \"tick\"")
    );
}

#[tokio::test]
async fn a_failed_liveness_probe_restarts_the_service() {
    let orch = start_runtime().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let svc = orch
        .supervise(sh("probed", "exec sleep 30").liveness(Liveness::Probe {
            probe: Readiness::Tcp(port),
            every: Duration::from_millis(100),
        }))
        .await
        .unwrap();
    svc.wait_ready().await.unwrap();
    // Three probe periods with the port open must restart nothing: an
    // absence, shown over a window of real time (load can only make it
    // pass); the restart after the port closes is waited on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(svc.status().restarts, 0, "a passing probe restarted it");
    drop(listener);
    wait_for("a restart for the failed probe", || {
        svc.status().restarts >= 1
    })
    .await;
    assert!(svc.status().last_exit.unwrap().contains("liveness"));
}

#[tokio::test]
async fn stop_start_and_restart_by_hand() {
    let orch = start_runtime().await;
    let svc = orch.supervise(sh("manual", "exec sleep 30")).await.unwrap();
    svc.wait_ready().await.unwrap();
    let pid = svc.status().pid.unwrap();
    svc.stop().await.unwrap();
    assert_eq!(svc.status().state, ServiceState::Stopped);
    assert!(svc.status().pid.is_none());
    wait_for("the stopped process to be gone", || !alive(pid)).await;
    svc.start().await.unwrap();
    svc.wait_ready().await.unwrap();
    let run = svc.status().run_id;
    svc.restart().await.unwrap();
    svc.wait_ready().await.unwrap();
    assert_ne!(svc.status().run_id, run);
    let listing = orch.observe().services().list();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].name, "manual");
    assert!(listing[0].uptime().is_some());
}

#[tokio::test(start_paused = true)]
async fn an_action_crash_loop_backs_off_and_gives_up_without_spinning() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let started = tokio::time::Instant::now();
    let svc = orch
        .supervise(
            ServiceSpec::action("loop", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("boom".to_string()) }
            })
            .intensity(4, Duration::from_secs(60))
            .backoff(Backoff::exponential(
                Duration::from_secs(1),
                Duration::from_secs(60),
            )),
        )
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(600), || svc.status().state
            == ServiceState::Failed)
        .await
    );
    // 1 + 4 restarts; the first restart is immediate, then 1 s, 2 s, 4 s.
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(7) && elapsed < Duration::from_secs(9),
        "{elapsed:?}"
    );
    assert!(
        svc.status()
            .reason
            .unwrap()
            .contains("returned an error: boom")
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_action_service_escalates_as_configured() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let services = orch.observe().services();
    let handles = services
        .supervise_all(vec![
            ServiceSpec::action("bad", || async { Err::<(), _>("no".to_string()) })
                .intensity(1, Duration::from_secs(10))
                .group("g")
                .escalation(Escalation::StopGroup),
            ServiceSpec::action("sibling", std::future::pending).group("g"),
            ServiceSpec::action("sad", || async { Err::<(), _>("no".to_string()) })
                .intensity(1, Duration::from_secs(10))
                .escalation(Escalation::Unhealthy),
        ])
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || {
            handles[1].status().state == ServiceState::Stopped
                && handles[2].status().state == ServiceState::Failed
        })
        .await
    );
    let unhealthy = services.unhealthy();
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(unhealthy[0].0, "sad");
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn permanent_services_come_back_after_a_reopen_and_failed_ones_stay_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.redb");
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let keep = orch.supervise(sh("keep", "exec sleep 30")).await.unwrap();
    keep.wait_ready().await.unwrap();
    let old_pid = keep.status().pid.unwrap();
    let old_run = keep.status().run_id.unwrap();
    let broken = orch
        .supervise(quick(
            sh("broken", "echo bad >&2; exit 7").intensity(1, Duration::from_secs(30)),
        ))
        .await
        .unwrap();
    wait_for("broken to fail", || {
        broken.status().state == ServiceState::Failed
    })
    .await;
    orch.shutdown().await.unwrap();
    assert!(!alive(old_pid));

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let services = orch.observe().services();
    assert_eq!(services.names(), ["keep", "broken"]);
    let keep = services.find("keep").unwrap();
    keep.wait_ready().await.unwrap();
    assert_ne!(keep.status().run_id, Some(old_run));
    let broken = orch
        .supervise(quick(
            sh("broken", "echo bad >&2; exit 7").intensity(1, Duration::from_secs(30)),
        ))
        .await
        .expect("a restored service is adopted by supervise");
    assert_eq!(broken.status().state, ServiceState::Failed);
    assert!(broken.status().reason.unwrap().contains("exit 7"));
    // The history of both survives: runs of the first life are stored.
    let history = orch
        .observe()
        .history(&RunQuery::new().label(SERVICE_LABEL, "keep"))
        .unwrap();
    assert!(history.iter().any(|r| r.id == old_run));
    orch.shutdown().await.unwrap();

    // Still failed, with its reason, after one more restart of the host.
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let broken = orch.observe().services().find("broken").unwrap();
    assert_eq!(broken.status().state, ServiceState::Failed);
    assert!(broken.status().reason.unwrap().contains("exit 7"));
    // Told otherwise, it runs again (and fails again).
    broken.start().await.unwrap();
    wait_for("broken to run again", || broken.status().run_id.is_some()).await;
    orch.shutdown().await.unwrap();
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn faults_reach_services_by_name() {
    use taskorch::Fault;
    use taskorch::fault::FaultTarget;

    let orch = start_runtime().await;
    let svc = orch.supervise(sh("victim", "exec sleep 30")).await.unwrap();
    svc.wait_ready().await.unwrap();
    let pid = svc.status().pid.unwrap();
    orch.inject_fault("victim", Fault::CrashService);
    wait_for("the crash and the restart", || {
        svc.status().restarts == 1 && svc.status().state == ServiceState::Ready
    })
    .await;
    assert!(!alive(pid));
    // Exit 0 of a transient service: not restarted.
    let t = orch
        .supervise(sh("t", "exec sleep 30").restart(Restart::Transient))
        .await
        .unwrap();
    t.wait_ready().await.unwrap();
    orch.faults()
        .inject_at("t", FaultTarget::next(), Fault::ExitService(0))
        .unwrap();
    wait_for("t to stop", || t.status().state == ServiceState::Stopped).await;
    assert_eq!(t.status().restarts, 0);
    // The second readiness from now: after one restart.
    orch.faults()
        .inject_at("victim", FaultTarget::next().nth(2), Fault::ExitService(4))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(svc.status().restarts, 1);
    svc.restart().await.unwrap();
    wait_for("the fault on the second readiness", || {
        svc.status().restarts == 2
    })
    .await;
    assert!(matches!(
        orch.faults().inject_at("ghost", FaultTarget::next(), Fault::CrashService),
        Err(Error::InvalidFault { actor, .. }) if actor == "ghost"
    ));
    assert!(matches!(
        orch.faults().inject_at(
            "victim",
            FaultTarget::next(),
            Fault::StallService(Duration::ZERO)
        ),
        Err(Error::InvalidFault { .. })
    ));
    // An action service: its future is dropped as a failure.
    let act = orch
        .supervise(ServiceSpec::action("act", std::future::pending))
        .await
        .unwrap();
    act.wait_ready().await.unwrap();
    orch.inject_fault("act", Fault::CrashService);
    wait_for("the action to be restarted", || act.status().restarts == 1).await;
    assert!(
        act.status().last_exit.unwrap().contains("CrashService"),
        "{:?}",
        act.status()
    );
    // A stall: the heartbeat stops, liveness restarts it.
    let beat = orch
        .supervise(
            sh("beat", "while :; do echo tick; sleep 0.1; done")
                .liveness(Liveness::Heartbeat {
                    line: "tick".into(),
                    within: Duration::from_millis(800),
                })
                .stop_grace(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    beat.wait_ready().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(beat.status().restarts, 0, "a steady heartbeat was missed");
    orch.inject_fault("beat", Fault::StallService(Duration::from_secs(30)));
    wait_for("the stalled service to be restarted", || {
        beat.status().restarts == 1 && beat.status().state == ServiceState::Ready
    })
    .await;
    assert!(beat.status().last_exit.unwrap().contains("heartbeat"));
    assert!(orch.faults().stats().fired >= 5);
}

#[tokio::test]
async fn a_restored_service_waits_for_an_action_it_starts_after_to_be_supervised_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.redb");
    let pump = || ServiceSpec::action("pump", std::future::pending);
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    orch.supervise(pump()).await.unwrap();
    let api = orch
        .supervise(sh("api", "exec sleep 30").after("pump"))
        .await
        .unwrap();
    api.wait_ready().await.unwrap();
    orch.shutdown().await.unwrap();

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let api = orch.observe().services().find("api").expect("restored");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.status().state, ServiceState::Starting);
    assert_eq!(api.status().run_id, None, "started before its dependency");
    orch.supervise(pump()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), api.wait_ready())
        .await
        .expect("ready once pump is back")
        .unwrap();
    orch.shutdown().await.unwrap();
}

/// A test process started in the background of a non-interactive shell
/// (`cmd &`, as scripts and some CI runners start it) inherits SIGINT
/// ignored, children inherit that across exec, and a non-interactive `sh`
/// cannot trap a signal ignored on entry: the service under test could
/// then never honour SIGINT. Put the default action back when SIGINT is
/// ignored; leave any installed handler alone.
fn sigint_not_ignored() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installs the default action (no handler code of ours runs),
    // and puts the previous action back unless it was "ignore".
    let previous = unsafe { sigaction(Signal::SIGINT, &default) }.expect("sigaction SIGINT");
    if !matches!(previous.handler(), SigHandler::SigIgn) {
        unsafe { sigaction(Signal::SIGINT, &previous) }.expect("sigaction SIGINT");
    }
}
