//! Delayed starts from the command line: `run --after` / `--at` wait, then
//! run (Ctrl-C before the start: exit 130, nothing ran); jobs files accept
//! `start_after` / `start_at` on `[[launch]]` entries and refuse them,
//! naming entry and key, elsewhere or out of range (exit 2, nothing
//! started).

use std::time::{Duration, Instant};

use super::{Spawned, taskorch};
use crate::common::wait_until;

#[test]
fn run_after_waits_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let begun = Instant::now();
    let out = taskorch(dir.path(), &["run", "--after", "1s", "--", "echo", "hi"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "hi\n");
    assert!(
        out.stderr.starts_with("taskorch: waiting until "),
        "{out:?}"
    );
    assert!(
        begun.elapsed() >= Duration::from_secs(1),
        "not before its time"
    );
}

#[test]
fn run_at_a_past_time_runs_now_and_a_bad_time_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "run",
            "--at",
            "2020-01-01T01:00:00+01:00",
            "--",
            "echo",
            "past",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "past\n");
    let out = taskorch(dir.path(), &["run", "--at", "tomorrow", "--", "echo", "x"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("'--at <TIME>'"), "{out:?}");
    assert!(out.stdout.is_empty());
    let out = taskorch(
        dir.path(),
        &[
            "run",
            "--after",
            "1s",
            "--at",
            "2020-01-01T00:00:00Z",
            "--",
            "true",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
}

#[tokio::test]
async fn ctrl_c_before_the_start_exits_130_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Spawned::start(
        dir.path(),
        &["run", "--after", "1h", "--", "sh", "-c", "touch ran"],
    );
    assert!(
        wait_until(Duration::from_secs(20), || run
            .stderr()
            .contains("waiting until"))
        .await,
        "{}",
        run.stderr()
    );
    run.signal("INT");
    assert_eq!(run.exit_code().await, 130);
    assert!(!dir.path().join("ran").exists(), "the command never ran");
}

#[test]
fn jobs_files_take_a_start_on_launch_entries_only() {
    let cases = [
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\nstart_after = \"1s\"\n",
            "jobs.toml:4:15: [[task]] \"a\": `start_after`: a delayed start is for [[launch]] entries only",
        ),
        (
            "[[launch]]\nname = \"l\"\nshell = \"true\"\nstart_after = \"1s\"\nstart_at = \"2030-01-01T00:00:00Z\"\n",
            "jobs.toml:5:12: [[launch]] \"l\": `start_at`: `start_after` is given too; keep one",
        ),
        (
            "[[launch]]\nname = \"l\"\nshell = \"true\"\nstart_at = \"2999-01-01T00:00:00Z\"\n",
            "jobs.toml:4:12: [[launch]] \"l\": `start_at`: Task::start_at = ",
        ),
    ];
    for (entry, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jobs.toml"), entry).unwrap();
        let out = taskorch(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
        assert_eq!(out.code, 2, "{entry}\n{out:?}");
        assert!(
            out.stderr.starts_with(&format!("taskorch: {expected}")),
            "{entry}\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{entry}: something started");
    }
}

#[test]
fn up_launches_a_delayed_entry_when_it_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = "[[launch]]\nname = \"later\"\nshell = \"echo late\"\nstart_after = \"1s\"\n\n\
                [[launch]]\nname = \"past\"\nshell = \"echo past\"\nstart_at = \"2020-01-01T00:00:00Z\"\n";
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let out = taskorch(dir.path(), &["up", "jobs.toml", "--for", "4s"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("later"), "{out:?}");
    assert!(out.stdout.contains("late"), "{out:?}");
    assert!(out.stdout.contains("past"), "{out:?}");
    // The past one ran first, though launched after.
    let late = out.stdout.find("| late").expect("the delayed one ran");
    let past = out.stdout.find("| past").expect("the past one ran");
    assert!(past < late, "{}", out.stdout);
}
