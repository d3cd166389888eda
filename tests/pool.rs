//! The Pooled pattern: `orch.pool(spec)`, `Pool::request` and the worker
//! lifecycle (routing, queueing, time-outs, crashes and replacement,
//! recycling, bad programs, resize, close, shutdown).

use std::path::Path;
use std::time::Duration;

use taskorch::pool::PoolState;
use taskorch::{Backoff, Error, Pool, PoolSpec};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

/// A pool whose workers run `script` with `sh -c`.
fn sh(name: &str, script: &str) -> PoolSpec {
    PoolSpec::command(name, "sh").args(["-c", script])
}

/// Workers that answer `<pid> <request>`.
const PID_ECHO: &str = r#"while IFS= read -r l; do echo "$$ $l"; done"#;

/// Workers that log each request to `$LOG` and answer `<pid> <request>`
/// only once the file `$GATE` exists.
const GATED: &str = r#"while IFS= read -r l; do
  echo "$l" >> "$LOG"
  while [ ! -e "$GATE" ]; do sleep 0.01; done
  echo "$$ $l"
done"#;

fn gated(name: &str, dir: &Path) -> PoolSpec {
    sh(name, GATED)
        .env("GATE", dir.join("gate").to_str().unwrap())
        .env("LOG", dir.join("log").to_str().unwrap())
}

fn open_gate(dir: &Path) {
    std::fs::write(dir.join("gate"), "").unwrap();
}

fn pid_of(reply: &str) -> u32 {
    reply.split(' ').next().unwrap().parse().unwrap()
}

fn spawn_request(pool: &Pool, line: &str) -> tokio::task::JoinHandle<taskorch::Result<String>> {
    let pool = pool.clone();
    let line = line.to_string();
    tokio::spawn(async move { pool.request(line).await })
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_warm_worker_answers_line_by_line() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(PoolSpec::command("echo", "cat").workers(2))
        .await
        .unwrap();
    assert_eq!(pool.name(), "echo");
    assert_eq!(pool.request("hello").await.unwrap(), "hello");
    assert_eq!(
        pool.request("").await.unwrap(),
        "",
        "an empty line is a request"
    );
    assert_eq!(
        pool.request("  spaces and ünïcode  ").await.unwrap(),
        "  spaces and ünïcode  "
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.workers, stats.busy, stats.queued, stats.served),
        (2, 0, 0, 3)
    );
    assert_eq!((stats.restarts, stats.recycled), (0, 0));
    assert_eq!(pool.state(), PoolState::Open);
    assert_eq!(pool.worker_pids().len(), 2);
    let status = rt.system_status().await.unwrap();
    let keeper = status
        .child("pool_keeper")
        .expect("the pool keeper is supervised");
    assert_eq!(
        keeper.detail.as_deref(),
        Some("1 pools, 2 workers, 0 busy, 0 queued")
    );
}

#[tokio::test]
async fn a_worker_stays_warm_across_requests() {
    let rt = start_runtime().await;
    let pool = rt.pool(sh("warm", PID_ECHO)).await.unwrap();
    let first = pid_of(&pool.request("a").await.unwrap());
    for line in ["b", "c", "d"] {
        let reply = pool.request(line).await.unwrap();
        assert_eq!(reply, format!("{first} {line}"), "same process every time");
    }
    assert_eq!(pool.worker_pids(), [first]);
}

#[tokio::test]
async fn workers_know_their_pool_and_number() {
    let rt = start_runtime().await;
    let script = r#"while read -r l; do echo "$TASKORCH_POOL/$TASKORCH_WORKER_ID"; done"#;
    let pool = rt.pool(sh("named", script)).await.unwrap();
    assert_eq!(pool.request("x").await.unwrap(), "named/1");
}

#[tokio::test]
async fn idle_workers_take_requests_and_the_rest_queue() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = rt
        .pool(gated("route", dir.path()).workers(3))
        .await
        .unwrap();
    let calls: Vec<_> = (0..5)
        .map(|i| spawn_request(&pool, &format!("r{i}")))
        .collect();
    wait_for("3 busy workers and 2 queued requests", || {
        let s = pool.stats();
        s.busy == 3 && s.queued == 2
    })
    .await;
    open_gate(dir.path());
    let mut pids = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let reply = call.await.unwrap().unwrap();
        assert!(reply.ends_with(&format!(" r{i}")), "{reply}");
        pids.push(pid_of(&reply));
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "every worker served");
    assert_eq!(pool.stats().served, 5);
}

#[tokio::test]
async fn queued_requests_are_served_first_come_first_served() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = rt.pool(gated("fifo", dir.path())).await.unwrap();
    let mut calls = vec![spawn_request(&pool, "q0")];
    wait_for("the worker to take q0", || pool.stats().busy == 1).await;
    for i in 1..6 {
        calls.push(spawn_request(&pool, &format!("q{i}")));
        // Queue them one at a time, so the order they were sent is known.
        wait_for("the request to queue", || pool.stats().queued == i).await;
    }
    open_gate(dir.path());
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let seen = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(seen, "q0\nq1\nq2\nq3\nq4\nq5\n");
}

#[tokio::test]
async fn many_concurrent_callers_each_get_their_own_reply() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(PoolSpec::command("many", "cat").workers(4))
        .await
        .unwrap();
    let calls = (0..400).map(|i| {
        let pool = pool.clone();
        async move { (i, pool.request(format!("request {i}")).await) }
    });
    for (i, reply) in futures::future::join_all(calls).await {
        assert_eq!(reply.unwrap(), format!("request {i}"));
    }
    assert_eq!(pool.stats().served, 400);
}

#[tokio::test]
async fn a_request_containing_a_newline_is_invalid() {
    let rt = start_runtime().await;
    let pool = rt.pool(PoolSpec::command("nl", "cat")).await.unwrap();
    let err = pool.request("two\nlines").await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(msg) if msg.contains("newline at byte 3")),
        "{err:?}"
    );
    assert_eq!(pool.stats().served, 0, "nothing was sent");
    assert_eq!(pool.request("one line").await.unwrap(), "one line");
}

#[tokio::test]
async fn a_missing_program_is_not_found_at_open() {
    let rt = start_runtime().await;
    let err = rt
        .pool(PoolSpec::command("ghost", "no-such-worker-xyz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-worker-xyz"),
        "{err:?}"
    );
    assert!(rt.observe().pools().find("ghost").is_none());
}

#[tokio::test]
async fn specs_that_cannot_work_are_invalid_config() {
    let rt = start_runtime().await;
    for spec in [
        PoolSpec::command("zero", "cat").workers(0),
        PoolSpec::command("huge", "cat").workers(1_000_000),
        PoolSpec::command("", "cat"),
        PoolSpec::command("t", "cat").request_timeout(Duration::ZERO),
        PoolSpec::command("dir", "cat").current_dir("/no/such/dir"),
    ] {
        let err = rt.pool(spec).await.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    }
    let pool = rt.pool(PoolSpec::command("ok", "cat")).await.unwrap();
    for workers in [0, 100_000] {
        let err = pool.resize(workers).await.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    }
}

#[tokio::test]
async fn one_open_pool_per_name_and_handles_find_it() {
    let rt = start_runtime().await;
    let pool = rt.pool(PoolSpec::command("dup", "cat")).await.unwrap();
    let err = rt.pool(PoolSpec::command("dup", "cat")).await.unwrap_err();
    assert!(
        matches!(&err, Error::PoolExists(name) if name == "dup"),
        "{err:?}"
    );

    let found = rt.observe().pools().find("dup").expect("found by name");
    assert_eq!(found.request("via handle").await.unwrap(), "via handle");
    assert_eq!(rt.observe().pools().names(), ["dup"]);
    assert!(rt.observe().pools().find("other").is_none());

    pool.close().await.unwrap();
    assert!(rt.observe().pools().find("dup").is_none());
    let again = rt.pool(PoolSpec::command("dup", "cat")).await.unwrap();
    assert_eq!(again.request("reopened").await.unwrap(), "reopened");
}

#[tokio::test]
async fn a_stuck_worker_times_out_and_is_replaced() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        r#"while IFS= read -r l; do
  if [ "$l" = hang ]; then sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait; fi
  echo "$$ $l"
done"#,
        p = pids.display()
    );
    let limit = Duration::from_millis(300);
    let pool = rt
        .pool(sh("stuck", &script).request_timeout(limit))
        .await
        .unwrap();
    let err = pool.request("hang").await.unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { run: None, after } if after == limit),
        "{err:?}"
    );
    let stuck = read_pids(&pids);
    assert_eq!(stuck.len(), 2);
    assert_all_dead(&stuck).await;

    let reply = pool.request("next").await.unwrap();
    assert!(!stuck.contains(&pid_of(&reply)), "served by a new worker");
    let stats = pool.stats();
    assert_eq!((stats.restarts, stats.workers), (1, 1));
    assert!(pool.last_failure().unwrap().contains("did not answer"));
}

#[tokio::test]
async fn a_worker_that_dies_mid_request_answers_worker_died_and_is_replaced() {
    let rt = start_runtime().await;
    let script = r#"while IFS= read -r l; do
  if [ "$l" = die ]; then echo "fatal: asked to die" >&2; exit 3; fi
  echo "$$ $l"
done"#;
    let pool = rt.pool(sh("dies", script)).await.unwrap();
    let before = pid_of(&pool.request("hi").await.unwrap());
    let err = pool.request("die").await.unwrap_err();
    match &err {
        Error::WorkerDied { pool, pid, reason } => {
            assert_eq!(pool, "dies");
            assert_eq!(*pid, Some(before));
            assert!(reason.contains("exit status: 3"), "{reason}");
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    let after = pid_of(&pool.request("again").await.unwrap());
    assert_ne!(before, after);
    assert!(!alive(before));
    assert_eq!(pool.stats().restarts, 1);
    let logs = pool.logs();
    assert!(
        logs.lines
            .iter()
            .any(|l| l.text == "fatal: asked to die" && l.pid == Some(before) && l.worker == 1),
        "{logs:?}"
    );
}

#[tokio::test]
async fn an_idempotent_request_is_retried_once_on_another_worker() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("died-once");
    let script = format!(
        r#"while IFS= read -r l; do
  if [ "$l" = flaky ] && [ ! -e {m} ]; then touch {m}; exit 3; fi
  if [ "$l" = poison ]; then exit 4; fi
  echo "$$ $l"
done"#,
        m = mark.display()
    );
    let pool = rt
        .pool(sh("retry", &script).workers(2).retry_idempotent(true))
        .await
        .unwrap();
    let reply = pool.request("flaky").await.unwrap();
    assert!(reply.ends_with(" flaky"), "{reply}");
    assert_eq!(pool.stats().restarts, 1);

    // Retried once only: the second death is the caller's answer.
    let err = pool.request("poison").await.unwrap_err();
    assert!(matches!(err, Error::WorkerDied { .. }), "{err:?}");
    wait_for("both deaths to be replaced", || {
        let s = pool.stats();
        s.restarts == 3 && s.workers == 2
    })
    .await;
    assert!(pool.request("still up").await.is_ok());
}

#[tokio::test]
async fn a_worker_killed_while_idle_is_replaced() {
    let rt = start_runtime().await;
    let pool = rt.pool(sh("killed", PID_ECHO)).await.unwrap();
    let victim = pid_of(&pool.request("x").await.unwrap());
    kill(victim);
    wait_for("the replacement", || {
        let s = pool.stats();
        s.restarts == 1 && s.workers == 1
    })
    .await;
    let reply = pool.request("y").await.unwrap();
    assert_ne!(pid_of(&reply), victim);
    assert!(pool.last_failure().unwrap().contains("closed its stdout"));
}

#[tokio::test]
async fn replies_that_break_the_protocol_are_reported_and_the_worker_replaced() {
    let rt = start_runtime().await;
    let script = r#"while IFS= read -r l; do
  case "$l" in
    garbage) printf '\377\376\n' ;;
    two) printf 'first\nsecond\n' ;;
    long) printf '%0100d\n' 0 ;;
    *) echo "$$ $l" ;;
  esac
done"#;
    let pool = rt.pool(sh("proto", script).max_reply(50)).await.unwrap();
    for (request, expected) in [
        ("garbage", "not UTF-8"),
        ("two", "more than one line"),
        ("long", "longer than max_reply"),
    ] {
        let before = pid_of(&pool.request("ping").await.unwrap());
        let err = pool.request(request).await.unwrap_err();
        match &err {
            Error::WorkerProtocol { pool, pid, reason } => {
                assert_eq!(pool, "proto");
                assert_eq!(*pid, Some(before));
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("{request}: expected WorkerProtocol, got {other:?}"),
        }
        let after = pid_of(&pool.request("ping").await.unwrap());
        assert_ne!(before, after, "{request}: the worker was replaced");
    }
    assert_eq!(pool.stats().restarts, 3);
}

#[tokio::test]
async fn a_late_extra_line_replaces_the_worker_before_the_next_request() {
    let rt = start_runtime().await;
    let script = r#"while IFS= read -r l; do echo "$$ $l"; sleep 0.05; echo extra; done"#;
    let pool = rt.pool(sh("late", script)).await.unwrap();
    let first = pid_of(&pool.request("a").await.unwrap());
    wait_for("the replacement", || pool.stats().restarts == 1).await;
    assert!(
        pool.last_failure()
            .unwrap()
            .contains("output nobody asked for")
    );
    let reply = pool.request("b").await.unwrap();
    assert_eq!(reply, format!("{} b", pid_of(&reply)), "not the stray line");
    assert_ne!(pid_of(&reply), first);
}

/// The late line is already in the pipe when the next request comes, but
/// the reactor has not run since (this test's runtime has one thread, held
/// until the worker has written it): it must not be read as the reply.
#[tokio::test]
async fn a_late_line_is_never_the_next_callers_reply() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("late");
    let script =
        r#"while IFS= read -r l; do echo "$$ $l"; sleep 0.05; echo stray; touch "$LATE"; done"#;
    let spec = sh("stray", script).env("LATE", written.display().to_string());
    let pool = rt.pool(spec).await.unwrap();
    let first = pid_of(&pool.request("a").await.unwrap());
    let deadline = std::time::Instant::now() + WAIT;
    while !written.exists() {
        assert!(std::time::Instant::now() < deadline, "no late line");
        std::thread::sleep(Duration::from_millis(1));
    }
    let reply = pool.request("b").await.unwrap();
    assert_eq!(reply, format!("{} b", pid_of(&reply)), "not the stray line");
    assert_ne!(pid_of(&reply), first, "the stray writer was replaced");
}

#[tokio::test]
async fn a_program_that_keeps_dying_at_start_makes_the_pool_unavailable() {
    let rt = start_runtime().await;
    let script = r#"echo "ModuleNotFoundError: No module named 'scorer'" >&2; exit 1"#;
    let pool = rt
        .pool(sh("broken", script).workers(2).max_start_failures(4))
        .await
        .unwrap();
    // A request sent meanwhile is answered either way, never left hanging.
    let early = pool.request("x").await.unwrap_err();
    assert!(
        matches!(early, Error::WorkerDied { .. } | Error::PoolUnavailable(_)),
        "{early:?}"
    );
    wait_for("the pool to give up", || {
        matches!(pool.state(), PoolState::Failed(_))
    })
    .await;
    let err = pool.request("y").await.unwrap_err();
    match &err {
        Error::PoolUnavailable(msg) => {
            assert!(msg.contains("4 workers in a row failed at start"), "{msg}");
            assert!(msg.contains("No module named 'scorer'"), "{msg}");
        }
        other => panic!("expected PoolUnavailable, got {other:?}"),
    }
    wait_for("the last worker to go", || pool.stats().workers == 0).await;
    let stats = pool.stats();
    assert!(stats.restarts < 4, "no restart past the limit: {stats:?}");
    assert!(pool.worker_pids().is_empty());
}

#[tokio::test]
async fn a_worker_that_talks_out_of_turn_is_a_bad_program() {
    let rt = start_runtime().await;
    let script = r#"echo "Welcome to the scorer"; while IFS= read -r l; do echo "$l"; done"#;
    let pool = rt
        .pool(
            sh("chatty", script)
                .max_start_failures(2)
                .restart_backoff(Backoff::none()),
        )
        .await
        .unwrap();
    wait_for("the pool to give up", || {
        matches!(pool.state(), PoolState::Failed(_))
    })
    .await;
    let PoolState::Failed(reason) = pool.state() else {
        unreachable!()
    };
    assert!(reason.contains("output nobody asked for"), "{reason}");
}

#[tokio::test]
async fn recycle_after_replaces_workers_without_failing_requests() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(sh("recycle", PID_ECHO).recycle_after(2))
        .await
        .unwrap();
    let mut pids = Vec::new();
    for i in 0..6 {
        pids.push(pid_of(&pool.request(format!("r{i}")).await.unwrap()));
    }
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_eq!(pids[4], pids[5]);
    assert!(pids[0] != pids[2] && pids[2] != pids[4] && pids[0] != pids[4]);
    wait_for("the third recycle", || pool.stats().recycled == 3).await;
    assert_eq!(pool.stats().restarts, 0, "recycling is not a failure");
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn max_age_replaces_old_workers() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(sh("aged", PID_ECHO).max_age(Duration::from_millis(200)))
        .await
        .unwrap();
    let first = pid_of(&pool.request("a").await.unwrap());
    wait_for("a recycle by age", || pool.stats().recycled >= 1).await;
    let second = pid_of(&pool.request("b").await.unwrap());
    assert_ne!(first, second);
    assert_eq!(pool.stats().restarts, 0);
    assert_all_dead(&[first]).await;
}

#[tokio::test]
async fn resize_grows_and_shrinks_the_pool() {
    let rt = start_runtime().await;
    let pool = rt.pool(sh("elastic", PID_ECHO)).await.unwrap();
    pool.resize(3).await.unwrap();
    assert_eq!(pool.stats().workers, 3, "new workers are up on return");
    let all = pool.worker_pids();
    assert_eq!(all.len(), 3);

    pool.resize(1).await.unwrap();
    wait_for("two workers to retire", || pool.stats().workers == 1).await;
    let kept = pool.worker_pids();
    assert_eq!(kept.len(), 1);
    let retired: Vec<u32> = all.into_iter().filter(|p| !kept.contains(p)).collect();
    assert_all_dead(&retired).await;
    assert_eq!(pid_of(&pool.request("x").await.unwrap()), kept[0]);
    assert_eq!(pool.stats().restarts, 0);
}

#[tokio::test]
async fn close_drains_queued_requests_then_ends_the_workers() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = rt.pool(gated("closing", dir.path())).await.unwrap();
    let pids = pool.worker_pids();
    let calls: Vec<_> = (0..3)
        .map(|i| spawn_request(&pool, &format!("c{i}")))
        .collect();
    wait_for("1 busy, 2 queued", || {
        let s = pool.stats();
        s.busy == 1 && s.queued == 2
    })
    .await;
    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close().await })
    };
    wait_for("the pool to close its queue", || {
        pool.state() == PoolState::Closing
    })
    .await;
    let err = pool.request("late").await.unwrap_err();
    assert!(
        matches!(&err, Error::PoolUnavailable(msg) if msg.contains("closing")),
        "{err:?}"
    );
    open_gate(dir.path());
    for call in calls {
        assert!(call.await.unwrap().is_ok(), "queued requests are served");
    }
    closing.await.unwrap().unwrap();
    assert_eq!(pool.state(), PoolState::Closed);
    assert_all_dead(&pids).await;
    assert_eq!(pool.stats().workers, 0);
    let err = pool.request("after").await.unwrap_err();
    assert!(
        matches!(&err, Error::PoolUnavailable(msg) if msg.contains("closed")),
        "{err:?}"
    );
    pool.close().await.unwrap();
    let err = pool.resize(2).await.unwrap_err();
    assert!(matches!(err, Error::PoolUnavailable(_)), "{err:?}");
}

#[tokio::test]
async fn worker_stderr_is_kept_in_a_bounded_log_ring() {
    let rt = start_runtime().await;
    let script = r#"echo "worker ready" >&2
while IFS= read -r l; do echo "handling $l" >&2; echo ok; done"#;
    let pool = rt.pool(sh("logs", script).log_lines(3)).await.unwrap();
    for i in 0..4 {
        pool.request(format!("r{i}")).await.unwrap();
    }
    let pid = pool.worker_pids()[0];
    wait_for("the stderr lines", || {
        pool.logs().lines.last().map(|l| l.text.as_str()) == Some("handling r3")
    })
    .await;
    let logs = pool.logs();
    let texts: Vec<&str> = logs.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["handling r1", "handling r2", "handling r3"]);
    assert_eq!(logs.dropped, 2);
    assert!(
        logs.lines
            .iter()
            .all(|l| l.worker == 1 && l.pid == Some(pid))
    );
}

#[tokio::test]
async fn a_dropped_request_keeps_the_worker_in_step() {
    let rt = start_runtime().await;
    let script = r#"while IFS= read -r l; do sleep 0.2; echo "$l"; done"#;
    let pool = rt.pool(sh("cancel", script)).await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(20), pool.request("slow")).await;
    assert!(gave_up.is_err());
    // The worker finished "slow" and threw its reply away.
    assert_eq!(pool.request("next").await.unwrap(), "next");
    assert_eq!(pool.stats().restarts, 0);
}

#[tokio::test]
async fn shutdown_answers_every_request_and_leaves_no_process() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // Each worker starts a grandchild in its group, and never answers.
    let script = format!(
        r#"sleep 100 & echo $! >> {p}; echo $$ >> {p}
while IFS= read -r l; do sleep 100; done"#,
        p = pids.display()
    );
    let pool = rt.pool(sh("stubborn", &script).workers(2)).await.unwrap();
    let pids = wait_for_pids(&pids, 4).await;
    let calls: Vec<_> = (0..4)
        .map(|i| spawn_request(&pool, &format!("s{i}")))
        .collect();
    wait_for("2 busy, 2 queued", || {
        let s = pool.stats();
        s.busy == 2 && s.queued == 2
    })
    .await;
    rt.shutdown().await.unwrap();
    for call in calls {
        let err = tokio::time::timeout(WAIT, call)
            .await
            .expect("answered")
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    }
    assert_all_dead(&pids).await;
    assert!(matches!(
        pool.request("after").await,
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        rt.pool(PoolSpec::command("new", "cat")).await,
        Err(Error::ShuttingDown)
    ));
}

#[tokio::test]
async fn an_emergency_stop_answers_queued_requests_and_kills_the_workers() {
    let rt = start_runtime().await;
    let script = r#"while IFS= read -r l; do sleep 100; done"#;
    let pool = rt.pool(sh("aborted", script)).await.unwrap();
    let pids = pool.worker_pids();
    let calls: Vec<_> = (0..3)
        .map(|i| spawn_request(&pool, &format!("a{i}")))
        .collect();
    wait_for("1 busy, 2 queued", || {
        let s = pool.stats();
        s.busy == 1 && s.queued == 2
    })
    .await;
    rt.abort();
    for call in calls {
        let err = tokio::time::timeout(WAIT, call)
            .await
            .expect("answered")
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    }
    assert_all_dead(&pids).await;
}
