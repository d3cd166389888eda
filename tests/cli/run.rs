//! `taskorch run` and `taskorch stream`: output, exit codes, Ctrl-C.

use super::{Spawned, taskorch};
use crate::common::{assert_all_dead, wait_for_pids};

#[test]
fn run_prints_the_output_and_exits_with_the_childs_code() {
    let dir = tempfile::tempdir().unwrap();
    let ok = taskorch(
        dir.path(),
        &["run", "--", "sh", "-c", "echo out; echo err >&2"],
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.stdout, "out\n");
    assert_eq!(ok.stderr, "err\n");

    let failed = taskorch(dir.path(), &["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(failed.code, 7, "{failed:?}");
    // No store unless asked for.
    assert!(!dir.path().join(".taskorch").exists());
}

#[test]
fn run_retries_and_times_out_like_the_shell_tools() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("attempts");
    let script = format!("echo x >> {}; exit 1", counter.display());
    let out = taskorch(
        dir.path(),
        &["run", "--retries", "2", "--", "sh", "-c", &script],
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3
    );

    let slow = taskorch(
        dir.path(),
        &["run", "--timeout", "200ms", "--", "sleep", "5"],
    );
    assert_eq!(slow.code, 124, "{slow:?}");
    assert!(
        slow.stderr.contains("timed out after 200ms"),
        "{}",
        slow.stderr
    );
}

#[test]
fn run_of_a_missing_program_is_127_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(dir.path(), &["run", "--", "no-such-program-xyz", "arg"]);
    assert_eq!(out.code, 127);
    assert_eq!(
        out.stderr,
        "taskorch: no-such-program-xyz: command not found\n"
    );
}

#[test]
fn run_with_a_store_keeps_the_run_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "run", "--store", "st", "--name", "greet", "--", "echo", "hi",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let runs = taskorch(dir.path(), &["runs", "--store", "st", "--json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs[0]["name"], "greet");
    assert_eq!(runs[0]["status"], "succeeded");
    // Live output needs the run's own stream: the LongRunning pattern.
    assert_eq!(runs[0]["pattern"], "long_running");
}

#[tokio::test]
async fn stream_prints_live_and_ctrl_c_stops_the_process_group_with_130() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The script and a background child of it, both in the run's group.
    let script = format!(
        "sleep 300 & echo $! >> {p}; echo $$ >> {p}; echo ready; while true; do sleep 1; done",
        p = pids.display()
    );
    let mut stream = Spawned::start(dir.path(), &["stream", "--", "sh", "-c", &script]);
    stream.wait_for("ready").await;
    let pids = wait_for_pids(&pids, 2).await;
    stream.signal("INT");
    assert_eq!(stream.exit_code().await, 130);
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn stream_exits_with_the_childs_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = Spawned::start(
        dir.path(),
        &["stream", "--", "sh", "-c", "echo a; echo b >&2; exit 4"],
    );
    assert_eq!(stream.exit_code().await, 4);
    assert_eq!(stream.stdout(), "a\n");
    assert_eq!(stream.stderr(), "b\n");
}
