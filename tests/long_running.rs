//! The LongRunning pattern: `orch.stream(task)`, `output(id)`,
//! `subscribe_output(id)`, `cancel(id)`.
//!
//! Scripts that must pause wait for a file the test creates once it has
//! seen what it expects, so "live" is checked by causality, never by time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use taskorch::{Config, Error, OutputLine, RunStatus, StreamKind, Task};

use crate::common::*;

/// Shell code that blocks until `file` exists.
fn await_file(file: &Path) -> String {
    format!("while [ ! -e {} ]; do sleep 0.01; done", file.display())
}

fn touch(file: &Path) {
    std::fs::write(file, b"").unwrap();
}

fn gate(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// The next line, bounded so a bug fails the test instead of hanging it.
async fn next(stream: &mut taskorch::RunStream) -> Option<OutputLine> {
    tokio::time::timeout(Duration::from_secs(10), stream.next_line())
        .await
        .expect("a line or the end within 10 s")
}

fn texts(lines: &[OutputLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

#[tokio::test]
async fn lines_arrive_live_in_write_order_across_both_streams() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let (g1, g2) = (gate(&dir, "g1"), gate(&dir, "g2"));
    // Each line is written only after the test has read the previous one,
    // so receiving it proves it was delivered while the child ran.
    let script = format!(
        "echo out-1; {}; echo err-1 >&2; {}; echo out-2; exit 4",
        await_file(&g1),
        await_file(&g2)
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let id = stream.run_id();

    let first = next(&mut stream).await.unwrap();
    assert_eq!(
        (first.stream, first.text.as_str()),
        (StreamKind::Stdout, "out-1")
    );
    assert_eq!(rt.status(id), Some(RunStatus::Running));
    touch(&g1);
    let second = next(&mut stream).await.unwrap();
    assert_eq!(
        (second.stream, second.text.as_str()),
        (StreamKind::Stderr, "err-1")
    );
    touch(&g2);
    let third = next(&mut stream).await.unwrap();
    assert_eq!(third.text, "out-2");
    assert!(first.seq < second.seq && second.seq < third.seq);
    assert!(next(&mut stream).await.is_none());
    assert_eq!(stream.missed(), 0);

    let out = stream.wait().await.unwrap();
    assert_eq!(out.run_id, id);
    assert_eq!(out.exit_code, Some(4));
    assert_eq!(out.stdout_str(), "out-1\nout-2\n");
    assert_eq!(out.stderr_str(), "err-1\n");
    assert_eq!(rt.status(id), Some(RunStatus::Failed));
    assert_eq!(
        rt.observe().find_run(id).unwrap().pattern,
        taskorch::Pattern::LongRunning
    );
}

#[tokio::test]
async fn run_stream_is_a_futures_stream() {
    let rt = start_runtime().await;
    let stream = rt
        .stream(Task::shell("for i in 1 2 3; do echo line $i; done"))
        .await
        .unwrap();
    let lines: Vec<OutputLine> = tokio::time::timeout(Duration::from_secs(10), stream.collect())
        .await
        .unwrap();
    assert_eq!(texts(&lines), ["line 1", "line 2", "line 3"]);
    let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
}

#[tokio::test]
async fn output_is_kept_after_the_stream_is_dropped_and_for_every_pattern() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(1)) });

    let stream = rt
        .stream(Task::shell("echo a; echo b >&2; printf 'no newline'"))
        .await
        .unwrap();
    let id = stream.run_id();
    drop(stream);
    assert!(
        rt.wait(id).await.unwrap().success(),
        "dropping does not cancel"
    );
    let captured = rt.output(id).unwrap();
    assert_eq!(texts(&captured.lines), ["a", "b", "no newline"]);
    assert_eq!(captured.lines[1].stream, StreamKind::Stderr);
    assert_eq!(captured.dropped, 0);

    // A Simple run captures lines too.
    let out = rt.run(Task::command("echo").arg("simple")).await.unwrap();
    assert_eq!(texts(&rt.output(out.run_id).unwrap().lines), ["simple"]);
    // An action writes no lines; an unknown id has no output.
    let out = rt.run(Task::action("noop", json!(null))).await.unwrap();
    assert_eq!(
        rt.output(out.run_id).unwrap(),
        taskorch::CapturedOutput::default()
    );
    assert!(rt.output(taskorch::RunId::new()).is_none());
}

#[tokio::test]
async fn partial_last_lines_and_invalid_utf8_are_delivered() {
    let rt = start_runtime().await;
    let mut stream = rt
        .stream(Task::shell(
            r"printf 'ok\377\376\n\r\nwin\r\n'; printf 'tail-err' >&2; printf 'tail-out'",
        ))
        .await
        .unwrap();
    let mut lines = Vec::new();
    while let Some(line) = next(&mut stream).await {
        lines.push(line);
    }
    let mut stdout: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream == StreamKind::Stdout)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(stdout.remove(0), "ok\u{FFFD}\u{FFFD}");
    assert_eq!(stdout, ["", "win", "tail-out"]);
    let stderr: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream == StreamKind::Stderr)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(stderr, ["tail-err"]);
    assert!(rt.output(stream.run_id()).unwrap().split.is_empty());
    assert!(stream.wait().await.unwrap().success());
}

#[tokio::test]
async fn a_late_subscriber_gets_the_backlog_then_live_lines() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let go = gate(&dir, "go");
    let script = format!("echo one; echo two; {}; echo three", await_file(&go));
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    assert_eq!(next(&mut stream).await.unwrap().text, "one");
    assert_eq!(next(&mut stream).await.unwrap().text, "two");

    // A UI attaching now still sees everything in the ring.
    let mut late = rt.observe().subscribe_output(stream.run_id()).unwrap();
    assert_eq!(late.run_id(), stream.run_id());
    let bounded = Duration::from_secs(10);
    let backlog = tokio::time::timeout(bounded, late.next_line())
        .await
        .unwrap();
    assert_eq!(backlog.unwrap().text, "one");
    let backlog = tokio::time::timeout(bounded, late.next_line())
        .await
        .unwrap();
    assert_eq!(backlog.unwrap().text, "two");
    touch(&go);
    let live = tokio::time::timeout(bounded, late.next_line())
        .await
        .unwrap();
    assert_eq!(live.unwrap().text, "three");
    assert_eq!(next(&mut stream).await.unwrap().text, "three");
    let end = tokio::time::timeout(bounded, late.next_line())
        .await
        .unwrap();
    assert!(end.is_none());
    assert!(next(&mut stream).await.is_none());

    // After the end, a new subscriber reads it all and ends.
    let after = rt.observe().subscribe_output(stream.run_id()).unwrap();
    let all: Vec<OutputLine> = tokio::time::timeout(bounded, after.collect())
        .await
        .unwrap();
    assert_eq!(texts(&all), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_full_ring_drops_the_oldest_lines_and_a_reader_sees_the_gap() {
    let rt = start_with(Config {
        output_ring_lines: 100,
        ..fast_config()
    })
    .await;
    // A subscriber that reads nothing while the child writes 1000 lines:
    // the child is never blocked by it. (The run's own stream is let go,
    // as its owner would hold the child back.)
    let stream = rt.stream(Task::command("seq").arg("1000")).await.unwrap();
    let id = stream.run_id();
    let mut reader = rt.observe().subscribe_output(id).unwrap();
    drop(stream);
    let out = tokio::time::timeout(Duration::from_secs(10), rt.wait(id))
        .await
        .expect("an unread subscription never blocks the child")
        .unwrap();
    assert!(out.success());

    let captured = rt.output(id).unwrap();
    assert_eq!(captured.lines.len(), 100);
    assert_eq!(captured.dropped, 900);
    assert_eq!(captured.lines[0].seq, 900);
    assert_eq!(captured.lines[0].text, "901");
    assert_eq!(captured.lines[99].text, "1000");

    let first = reader.next_line().await.unwrap();
    assert_eq!((first.seq, first.text.as_str()), (900, "901"));
    assert_eq!(reader.missed(), 900);
}

#[tokio::test]
async fn a_stalled_subscriber_never_slows_a_chatty_child() {
    let rt = start_runtime().await;
    // ~1.3 MB in 200,000 lines, far past the pipe buffer and the ring,
    // while a subscriber reads nothing.
    let stream = rt.stream(Task::command("seq").arg("200000")).await.unwrap();
    let id = stream.run_id();
    let mut reader = rt.observe().subscribe_output(id).unwrap();
    drop(stream);
    let out = tokio::time::timeout(Duration::from_secs(30), rt.wait(id))
        .await
        .expect("the child finishes while the subscriber stalls")
        .unwrap();
    assert!(out.success());
    let resumed = reader.next_line().await.unwrap();
    assert_eq!(
        resumed.seq, 190_000,
        "the ring keeps the newest 10,000 lines"
    );
    assert_eq!(resumed.text, "190001");
    assert_eq!(reader.missed(), 190_000);
}

#[tokio::test]
async fn cancel_terminates_the_group_and_ends_cancelled() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; echo started; wait",
        p = pids.display()
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let id = stream.run_id();
    assert_eq!(next(&mut stream).await.unwrap().text, "started");
    let pids = wait_for_pids(&pids, 2).await;

    rt.cancel(id).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), stream.wait())
        .await
        .expect("a cancelled run ends")
        .unwrap_err();
    assert!(
        matches!(err, Error::Cancelled { run: Some(run) } if run == id),
        "{err:?}"
    );
    assert_eq!(rt.status(id), Some(RunStatus::Cancelled));
    assert_all_dead(&pids).await;
    assert!(matches!(rt.wait(id).await, Err(Error::Cancelled { .. })));
    assert_eq!(texts(&rt.output(id).unwrap().lines), ["started"]);

    // Cancelling a finished run is a no-op; an unknown id is an error.
    rt.cancel(id).await.unwrap();
    assert_eq!(rt.status(id), Some(RunStatus::Cancelled));
    let done = rt.run(Task::command("true")).await.unwrap();
    rt.cancel(done.run_id).await.unwrap();
    assert_eq!(rt.status(done.run_id), Some(RunStatus::Succeeded));
    let unknown = taskorch::RunId::new();
    assert!(matches!(rt.cancel(unknown).await, Err(Error::UnknownRun(id)) if id == unknown));
}

#[tokio::test]
async fn cancel_while_queued_ends_cancelled_without_starting() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let go = gate(&dir, "go");
    let blocker = rt.stream(Task::shell(await_file(&go))).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || blocker.status()
            == RunStatus::Running)
        .await
    );
    let queued = rt.stream(Task::shell("echo never")).await.unwrap();
    assert_eq!(queued.status(), RunStatus::Queued);
    rt.cancel(queued.run_id()).await.unwrap();
    let id = queued.run_id();
    assert!(matches!(queued.wait().await, Err(Error::Cancelled { .. })));
    assert_eq!(rt.status(id), Some(RunStatus::Cancelled));
    assert!(rt.observe().find_run(id).unwrap().started.is_none());
    assert!(rt.output(id).unwrap().lines.is_empty());
    touch(&go);
    assert!(blocker.wait().await.unwrap().success());
}

#[tokio::test]
async fn dropping_a_stream_keeps_the_run_unless_cancel_on_drop() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let go = gate(&dir, "go");
    let kept = rt
        .stream(Task::shell(format!("{}; echo finished", await_file(&go))))
        .await
        .unwrap();
    let kept_id = kept.run_id();
    drop(kept);
    assert!(!rt.status(kept_id).unwrap().is_terminal());
    touch(&go);
    let out = tokio::time::timeout(Duration::from_secs(10), rt.wait(kept_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.stdout_str(), "finished\n");

    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let id = stream.run_id();
    stream.cancel_on_drop(true);
    let pids = wait_for_pids(&pids, 2).await;
    drop(stream);
    let err = tokio::time::timeout(Duration::from_secs(10), rt.wait(id))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn a_ten_mib_line_is_split_at_the_cap_flagged_and_bounded() {
    let rt = start_runtime().await;
    let cap = 64 << 10;
    let stream = rt
        .stream(Task::shell("head -c 10485760 /dev/zero | tr '\\0' x"))
        .await
        .unwrap();
    let id = stream.run_id();
    let out = tokio::time::timeout(Duration::from_secs(30), stream.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(out.success());
    assert!(out.stdout_truncated, "the byte capture keeps its own cap");

    let captured = rt.output(id).unwrap();
    let pieces = captured.lines.len() as u64 + captured.dropped;
    assert_eq!(pieces, (10 << 20) / cap as u64, "cut into cap-sized pieces");
    // The ring holds at most its byte cap (4 MiB) of them.
    assert_eq!(captured.lines.len(), (4 << 20) / cap);
    assert!(captured.lines.iter().all(|l| l.text.len() == cap));
    let (last, rest) = captured.lines.split_last().unwrap();
    let flagged: Vec<u64> = rest.iter().map(|l| l.seq).collect();
    assert_eq!(
        captured.split, flagged,
        "every piece but the last is flagged"
    );
    assert!(!captured.split.contains(&last.seq));
}

#[tokio::test]
async fn a_child_that_closes_stdout_is_still_waited_for() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let go = gate(&dir, "go");
    let script = format!(
        "echo before; exec 1>&-; {}; echo after >&2; exit 3",
        await_file(&go)
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    assert_eq!(next(&mut stream).await.unwrap().text, "before");
    // stdout is closed, the child still runs: the run is not over.
    let id = stream.run_id();
    assert_eq!(rt.status(id), Some(RunStatus::Running));
    touch(&go);
    let after = next(&mut stream).await.unwrap();
    assert_eq!(
        (after.stream, after.text.as_str()),
        (StreamKind::Stderr, "after")
    );
    assert!(next(&mut stream).await.is_none());
    assert_eq!(stream.wait().await.unwrap().exit_code, Some(3));
}

#[tokio::test]
async fn a_grandchild_holding_the_pipe_does_not_hold_wait() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The background sleep inherits stdout and would keep the pipe open.
    let script = format!("sleep 100 & echo $! > {}; echo done", pids.display());
    let stream = rt.stream(Task::shell(script)).await.unwrap();
    let id = stream.run_id();
    let out = tokio::time::timeout(Duration::from_secs(10), stream.wait())
        .await
        .expect("wait returns when the direct child exits")
        .unwrap();
    assert_eq!(out.stdout_str(), "done\n");
    assert_all_dead(&read_pids(&pids)).await;
    assert_eq!(texts(&rt.output(id).unwrap().lines), ["done"]);
}

#[tokio::test]
async fn a_descendant_that_left_the_group_is_abandoned_after_the_drain_timeout() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // `setsid` moves the sleeper out of the run's process group: it cannot
    // be killed with it, and it holds the pipe open.
    let script = format!(
        "setsid sh -c 'echo $$ > {p}; exec sleep 100' & \
         while [ ! -s {p} ]; do sleep 0.01; done; echo done",
        p = pids.display()
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let escaped = wait_for_pids(&pids, 1).await;
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while stream.next_line().await.is_some() {}
        stream.wait().await
    })
    .await;
    // Clean up the escapee before asserting anything.
    for pid in &escaped {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let out = result
        .expect("the drain gives up after drain_timeout")
        .unwrap();
    assert_eq!(out.stdout_str(), "done\n");
    assert_all_dead(&escaped).await;
}

#[tokio::test]
async fn retries_share_one_ring_and_seq_keeps_rising() {
    let rt = start_runtime().await;
    let stream = rt
        .stream(
            Task::shell("echo attempt; exit 1")
                .retries(2)
                .backoff(taskorch::Backoff::none()),
        )
        .await
        .unwrap();
    let id = stream.run_id();
    let out = stream.wait().await.unwrap();
    assert_eq!((out.attempts, out.exit_code), (3, Some(1)));
    let lines = rt.output(id).unwrap().lines;
    assert_eq!(texts(&lines), ["attempt", "attempt", "attempt"]);
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [0, 1, 2]);
}

#[tokio::test]
async fn a_timed_out_stream_ends_timed_out() {
    let rt = start_runtime().await;
    let mut stream = rt
        .stream(Task::shell("echo working; sleep 100").timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.unwrap().text, "working");
    assert!(next(&mut stream).await.is_none());
    let id = stream.run_id();
    assert!(matches!(stream.wait().await, Err(Error::TimedOut { .. })));
    assert_eq!(rt.status(id), Some(RunStatus::TimedOut));
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_runs() {
    let rt = start_runtime().await;
    let err = rt
        .stream(Task::command("no-such-program-xyz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );
    let err = rt.stream(Task::command("")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidTask(_)), "{err:?}");
    let err = rt
        .stream(Task::action("nope", json!(null)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );
    assert!(rt.runs().is_empty(), "refused tasks never become runs");

    let unknown = taskorch::RunId::new();
    let err = rt.observe().subscribe_output(unknown).unwrap_err();
    assert!(
        matches!(err, Error::UnknownRun(id) if id == unknown),
        "{err:?}"
    );
    assert!(rt.output(unknown).is_none());

    rt.shutdown().await.unwrap();
    let err = rt.stream(Task::command("true")).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
}

#[tokio::test]
async fn a_run_of_another_orchestrator_is_unknown() {
    let a = start_runtime().await;
    let b = start_runtime().await;
    let stream = a.stream(Task::command("true")).await.unwrap();
    let id = stream.run_id();
    assert!(b.output(id).is_none());
    assert!(matches!(
        b.observe().subscribe_output(id),
        Err(Error::UnknownRun(_))
    ));
    assert!(matches!(b.cancel(id).await, Err(Error::UnknownRun(_))));
    assert!(stream.wait().await.unwrap().success());
}

#[tokio::test]
async fn shutdown_mid_stream_interrupts_and_keeps_the_lines() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("echo $$ > {}; echo working; exec sleep 100", pids.display());
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    assert_eq!(next(&mut stream).await.unwrap().text, "working");
    let pids = wait_for_pids(&pids, 1).await;
    tokio::time::timeout(Duration::from_secs(10), rt.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(pids.iter().all(|&p| !alive(p)), "nothing outlives shutdown");
    assert!(next(&mut stream).await.is_none());
    let id = stream.run_id();
    assert!(matches!(stream.wait().await, Err(Error::ShuttingDown)));
    assert_eq!(rt.status(id), Some(RunStatus::Interrupted));
    assert_eq!(texts(&rt.output(id).unwrap().lines), ["working"]);
}

#[tokio::test]
async fn unusable_ring_settings_are_refused_naming_the_field() {
    for (config, field) in [
        (
            Config {
                output_ring_lines: 0,
                ..Config::default()
            },
            "output_ring_lines",
        ),
        (
            Config {
                max_line_bytes: 3,
                ..Config::default()
            },
            "max_line_bytes",
        ),
        (
            Config {
                output_ring_bytes: 1000,
                max_line_bytes: 4096,
                ..Config::default()
            },
            "output_ring_bytes",
        ),
    ] {
        let err = taskorch::Orchestrator::start(config).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(msg) if msg.contains(field)),
            "{err:?}"
        );
    }
}
