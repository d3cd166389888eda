//! Unit tests of the pool's parts: spec checks, line framing, the log
//! ring, job answers. The keeper and workers end to end are tested in the
//! integration tests (`tests/pool.rs`).

use std::time::Duration;

use super::job::Job;
use super::line::{Line, read_line, skip_line};
use super::log::{LogRing, collect};
use super::spec::PoolSpec;
use crate::error::Error;

fn invalid_config(spec: PoolSpec) -> String {
    match spec.validate() {
        Err(Error::InvalidConfig(msg)) => msg,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn a_default_spec_is_valid() {
    let spec = PoolSpec::command("p", "cat");
    spec.validate().unwrap();
    assert_eq!(spec.workers, 1);
    assert_eq!(spec.request_timeout, Duration::from_secs(30));
    assert!(!spec.retry_idempotent);
}

#[test]
fn specs_that_cannot_work_name_the_field() {
    let base = || PoolSpec::command("p", "cat");
    let cases = [
        (PoolSpec::command(" ", "cat"), "name must not be empty"),
        (PoolSpec::command("p", ""), "empty program"),
        (PoolSpec::command("p", "ca\0t"), "NUL byte in program"),
        (base().arg("a\0"), "NUL byte in argument 0"),
        (base().env("A=B", "x"), "invalid environment variable name"),
        (base().env("A", "x\0"), "NUL byte in the value"),
        (base().workers(0), "workers must be at least 1"),
        (base().workers(1025), "workers must be at most 1024"),
        (base().recycle_after(0), "recycle_after must be at least 1"),
        (base().max_age(Duration::ZERO), "max_age must be greater"),
        (
            base().request_timeout(Duration::ZERO),
            "request_timeout must be greater",
        ),
        (base().max_reply(0), "max_reply must be at least 1"),
        (base().log_lines(0), "log_lines must be at least 1"),
        (
            base().max_start_failures(0),
            "max_start_failures must be at least 1",
        ),
    ];
    for (spec, expected) in cases {
        let msg = invalid_config(spec);
        assert!(msg.contains(expected), "{msg:?} should say {expected:?}");
    }
}

#[tokio::test]
async fn read_line_frames_and_bounds_lines() {
    let mut input: &[u8] = b"one\ntwo\r\nthree-is-long\nfour\nlast";
    let mut buf = Vec::new();
    assert_eq!(
        read_line(&mut input, &mut buf, 8).await.unwrap(),
        Line::Complete
    );
    assert_eq!(buf, b"one");
    buf.clear();
    assert_eq!(
        read_line(&mut input, &mut buf, 8).await.unwrap(),
        Line::Complete
    );
    assert_eq!(buf, b"two\r", "the \\r is the caller's to drop");
    buf.clear();
    assert_eq!(
        read_line(&mut input, &mut buf, 8).await.unwrap(),
        Line::TooLong
    );
    assert_eq!(buf, b"three-is", "keeps the first cap bytes");
    assert_eq!(skip_line(&mut input).await.unwrap(), Line::Complete);
    buf.clear();
    assert_eq!(
        read_line(&mut input, &mut buf, 8).await.unwrap(),
        Line::Complete
    );
    assert_eq!(buf, b"four");
    buf.clear();
    assert_eq!(read_line(&mut input, &mut buf, 8).await.unwrap(), Line::Eof);
    assert_eq!(buf, b"last", "an unterminated last line is kept");
}

#[tokio::test]
async fn a_newline_exactly_at_the_cap_is_a_complete_line() {
    let mut input: &[u8] = b"12345678\n";
    let mut buf = Vec::new();
    assert_eq!(
        read_line(&mut input, &mut buf, 8).await.unwrap(),
        Line::Complete
    );
    assert_eq!(buf, b"12345678");
}

#[test]
fn the_log_ring_keeps_the_newest_lines_and_counts_the_rest() {
    let mut ring = LogRing::new(3);
    for i in 0..5 {
        ring.push(i % 2, Some(100 + i as u32), format!("line {i}"));
    }
    let log = ring.snapshot();
    assert_eq!(log.dropped, 2);
    let texts: Vec<&str> = log.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["line 2", "line 3", "line 4"]);
    assert_eq!(log.lines[0].seq, 2);
    assert_eq!(ring.tail(0, 5), ["line 2", "line 4"]);
    assert_eq!(ring.tail(1, 1), ["line 3"]);
}

#[tokio::test]
async fn stderr_is_collected_line_by_line_with_long_lines_cut() {
    let long = "x".repeat(20_000);
    let input = format!("first\r\n{long}\nafter\nno newline at the end");
    let mut lines = Vec::new();
    collect(input.as_bytes(), |l| lines.push(l)).await;
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "first");
    assert_eq!(lines[1].len(), 8 * 1024);
    assert_eq!(lines[2], "after");
    assert_eq!(lines[3], "no newline at the end");
}

#[tokio::test]
async fn a_job_answers_once_and_a_dropped_one_answers_actor_failed() {
    let (job, answer) = Job::new("x".into());
    assert!(!job.is_abandoned());
    job.answer(Ok("y".into()));
    assert_eq!(answer.await.unwrap().unwrap(), "y");

    let (job, answer) = Job::new("x".into());
    drop(job);
    let err = answer.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ActorFailed { .. }), "{err:?}");

    let (job, answer) = Job::new("x".into());
    drop(answer);
    assert!(job.is_abandoned());
    job.discard();
}

#[test]
fn the_table_never_removes_a_newer_pool_that_reused_the_name() {
    use super::shared::{PoolShared, PoolTable};
    use std::sync::Arc;

    let table = PoolTable::default();
    let old = Arc::new(PoolShared::new(
        table.next_id(),
        PoolSpec::command("p", "cat"),
        "/bin/cat".into(),
    ));
    table.insert(Arc::clone(&old));
    let new = Arc::new(PoolShared::new(
        table.next_id(),
        PoolSpec::command("p", "cat"),
        "/bin/cat".into(),
    ));
    table.insert(Arc::clone(&new));
    table.remove(&old);
    assert_eq!(table.get("p").map(|p| p.id), Some(new.id));
    table.remove(&new);
    assert!(table.get("p").is_none());
}

#[tokio::test]
async fn refused_requests_say_why_and_queued_ones_are_answered() {
    use super::shared::{PoolShared, PoolState};

    let pool = PoolShared::new(0, PoolSpec::command("p", "cat"), "/bin/cat".into());
    let (job, answer) = Job::new("queued".into());
    pool.jobs.try_send(job).unwrap();
    pool.set_state(PoolState::Closing);
    assert!(matches!(pool.refusal(), Error::PoolUnavailable(m) if m == "pool p is closing"));
    pool.abandon(&Error::ShuttingDown);
    assert!(matches!(answer.await.unwrap(), Err(Error::ShuttingDown)));
    assert!(matches!(pool.state(), PoolState::Failed(_)));
    assert!(pool.jobs.is_closed() && pool.done.is_cancelled());
    assert_eq!(pool.stats().queued, 0);
}

#[test]
fn a_spec_round_trips_through_json() {
    let spec = PoolSpec::command("scorer", "python3")
        .args(["-u", "score.py"])
        .env("MODEL", "small")
        .workers(4)
        .recycle_after(1000)
        .max_age(Duration::from_secs(3600))
        .retry_idempotent(true);
    let json = serde_json::to_string(&spec).unwrap();
    let back: PoolSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn the_json_form_keeps_the_command_fields_at_the_top() {
    let spec = PoolSpec::command("scorer", "python3")
        .arg("-u")
        .env("MODEL", "small")
        .current_dir("/srv");
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["program"], "python3");
    assert_eq!(json["args"], serde_json::json!(["-u"]));
    assert_eq!(json["env"], serde_json::json!([["MODEL", "small"]]));
    assert_eq!(json["current_dir"], "/srv");
    assert!(json.get("command").is_none());
}
