//! `taskorch batch`: lines and TOML, summary, joblog, resume, stdin.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Spawned, taskorch, taskorch_with_stdin};
use crate::common::wait_until;

/// Run `taskorch ARGS` in `dir` to its end; stdout as bytes, untouched.
fn taskorch_bytes(dir: &std::path::Path, args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(args)
        .current_dir(dir)
        .env_remove("TASKORCH_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run taskorch");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The joblog's rows after the header, split at tabs.
fn joblog_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn batch_runs_every_line_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "echo one\n\n# a comment\necho two | tr a-z A-Z\nfalse\nno-such-program-xyz\n";
    std::fs::write(dir.path().join("jobs.txt"), lines).unwrap();
    let out = taskorch(
        dir.path(),
        &["batch", "jobs.txt", "-j", "3", "--joblog", "log.tsv"],
    );
    assert_eq!(out.code, 1, "{out:?}");
    // Output in input order, whatever order the jobs finished in.
    assert_eq!(out.stdout, "one\nTWO\n");
    assert!(
        out.stderr.contains("JOBS  SUCCEEDED  FAILED  NOT STARTED"),
        "{}",
        out.stderr
    );
    let summary = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("JOBS"))
        .nth(1)
        .unwrap();
    let cells: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(&cells[..6], ["4", "2", "1", "1", "0", "0"], "{summary}");
    assert!(
        out.stderr
            .contains("program not found: no-such-program-xyz"),
        "{}",
        out.stderr
    );

    let log = std::fs::read_to_string(dir.path().join("log.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = log.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0][0], "Seq");
    assert_eq!(rows.len(), 5);
    let exit_of = |cmd: &str| rows.iter().find(|r| r[8] == cmd).unwrap()[6];
    assert_eq!(exit_of("echo one"), "0");
    assert_eq!(exit_of("false"), "1");
    assert_eq!(exit_of("no-such-program-xyz"), "127");

    // Resume: only the jobs that did not succeed run again.
    let again = taskorch(
        dir.path(),
        &["batch", "jobs.txt", "--joblog", "log.tsv", "--resume"],
    );
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains("resuming: 2 of 4 jobs already succeeded"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stdout, "");
    let log = std::fs::read_to_string(dir.path().join("log.tsv")).unwrap();
    assert_eq!(log.lines().count(), 5 + 2);
}

#[test]
fn batch_from_stdin_and_from_a_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..20).map(|i| format!("echo {i}\n")).collect();
    let out = taskorch_with_stdin(dir.path(), &["batch", "--stdin", "-j", "4"], &input);
    assert_eq!(out.code, 0, "{out:?}");
    let expected: String = (0..20).map(|i| format!("{i}\n")).collect();
    assert_eq!(out.stdout, expected);
    // Not a terminal: plain progress lines, the last one complete.
    assert!(
        out.stderr
            .contains("taskorch: 20/20 done, 20 succeeded, 0 running"),
        "{}",
        out.stderr
    );

    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[task]]\nname = \"a\"\nshell = \"echo from a\"\n\n[[task]]\nname = \"b\"\ncommand = [\"echo\", \"from b\"]\n",
    )
    .unwrap();
    let toml = taskorch(dir.path(), &["batch", "jobs.toml"]);
    assert_eq!(toml.code, 0, "{toml:?}");
    assert_eq!(toml.stdout, "from a\nfrom b\n");

    std::fs::write(
        dir.path().join("up.toml"),
        "[[pool]]\nname = \"p\"\ncommand = [\"cat\"]\n",
    )
    .unwrap();
    let refused = taskorch(dir.path(), &["batch", "up.toml"]);
    assert_eq!(refused.code, 2);
    assert_eq!(
        refused.stderr,
        "taskorch: up.toml: batch runs [[task]] entries only; this file has [[schedule]] or [[pool]] entries: run it with `taskorch up`\n"
    );
}

#[test]
fn batch_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = taskorch(dir.path(), &["batch", "nope.txt"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .starts_with("taskorch: nope.txt: cannot read:"),
        "{}",
        missing.stderr
    );
    let none = taskorch(dir.path(), &["batch"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr
            .contains("the following required arguments were not provided"),
        "{}",
        none.stderr
    );
    let resume = taskorch(dir.path(), &["batch", "--stdin", "--resume"]);
    assert_eq!(resume.code, 2);
    assert!(
        resume.stderr.contains("--joblog <FILE>"),
        "{}",
        resume.stderr
    );
}

#[test]
fn batch_keeps_input_order_when_jobs_end_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    // Job 1 ends last, job 3 before job 1, job 2 first: each writes both
    // streams.
    let lines = "sh -c 'sleep 0.6; echo one; echo e1 >&2'\n\
                 sh -c 'echo two; echo e2 >&2'\n\
                 sh -c 'sleep 0.3; echo three; echo e3 >&2'\n";
    std::fs::write(dir.path().join("jobs.txt"), lines).unwrap();
    let out = taskorch(dir.path(), &["batch", "jobs.txt", "-j", "3"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "one\ntwo\nthree\n");
    let errs: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with('e')).collect();
    assert_eq!(errs, ["e1", "e2", "e3"], "{}", out.stderr);
}

#[test]
fn batch_output_is_byte_exact_and_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    // 5 MiB of bytes of every value, no line structure (an LCG: no
    // dependency, same bytes every run).
    let mut x: u32 = 12345;
    let data: Vec<u8> = (0..5 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    std::fs::write(dir.path().join("data.bin"), &data).unwrap();
    std::fs::write(dir.path().join("jobs.txt"), "cat data.bin\necho after\n").unwrap();
    let (code, stdout, stderr) =
        taskorch_bytes(dir.path(), &["batch", "jobs.txt", "--joblog", "log.tsv"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.len(), data.len() + 6, "{stderr}");
    assert!(stdout[..data.len()] == data[..], "the job's bytes changed");
    assert_eq!(&stdout[data.len()..], b"after\n");
    // The joblog's Receive counts every byte, not a capture's cut.
    let rows = joblog_rows(&dir.path().join("log.tsv"));
    let cat = rows.iter().find(|r| r[8] == "cat data.bin").unwrap();
    assert_eq!(cat[5], (5u64 << 20).to_string());
}

#[tokio::test]
async fn batch_streams_the_first_job_live() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.txt"),
        "sh -c 'echo first; sleep 30'\necho second\n",
    )
    .unwrap();
    let mut batch = Spawned::start(dir.path(), &["batch", "jobs.txt", "-j", "2"]);
    // Printed while job 1 still runs, not when the batch ends.
    batch.wait_for("first\n").await;
    assert!(!batch.stdout().contains("second"), "{}", batch.stdout());
    batch.signal("INT");
    assert_eq!(batch.exit_code().await, 130);
    assert_eq!(batch.stdout(), "first\nsecond\n");
}

#[tokio::test]
async fn batch_joblog_survives_kill_9_and_resume_runs_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // The third job waits until the test lets it through (`go` exists).
    let lines = "echo a\necho b\nsh -c '[ -e go ] || sleep 60; echo c'\n";
    std::fs::write(dir.path().join("jobs.txt"), lines).unwrap();
    let log = dir.path().join("log.tsv");
    // The spool directory a killed batch leaves behind is then the test's.
    let mut batch = Spawned::start_with_env(
        dir.path(),
        &["batch", "jobs.txt", "-j", "3", "--joblog", "log.tsv"],
        &[("TMPDIR", dir.path())],
    );
    let logged = wait_until(Duration::from_secs(20), || joblog_rows(&log).len() == 2).await;
    assert!(logged, "joblog: {:?}", std::fs::read_to_string(&log));
    let killed = Command::new("kill")
        .args(["-KILL", &batch.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(batch.exit_code().await, -1);

    std::fs::write(dir.path().join("go"), "").unwrap();
    let again = taskorch(
        dir.path(),
        &["batch", "jobs.txt", "--joblog", "log.tsv", "--resume"],
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stderr
            .contains("resuming: 2 of 3 jobs already succeeded"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stdout, "c\n");
    let commands: Vec<String> = joblog_rows(&log)
        .into_iter()
        .map(|r| r[8].clone())
        .collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert_eq!(commands.iter().filter(|c| *c == "echo a").count(), 1);
}

#[test]
fn batch_reads_dash_as_stdin_and_j_0_as_the_cores() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..6).map(|i| format!("echo {i}\n")).collect();
    let out = taskorch_with_stdin(dir.path(), &["batch", "-", "-j", "0"], &input);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "0\n1\n2\n3\n4\n5\n");
}

#[test]
fn batch_timed_out_job_is_124_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.txt"), "sleep 30\necho ok\n").unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "batch",
            "jobs.txt",
            "--timeout",
            "300ms",
            "--joblog",
            "log.tsv",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let rows = joblog_rows(&dir.path().join("log.tsv"));
    let sleep = rows.iter().find(|r| r[8] == "sleep 30").unwrap();
    assert_eq!((sleep[6].as_str(), sleep[7].as_str()), ("124", "0"));
    // The summary says the same: one timed out, exit 124.
    let cells: Vec<&str> = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("JOBS"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        &cells[..6],
        ["2", "1", "0", "0", "1", "0"],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().any(|l| l.starts_with("124 ")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn batch_stops_when_the_reader_of_its_output_goes_away() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // Endless output: only the closed pipe can end this batch.
    std::fs::write(dir.path().join("jobs.txt"), "yes\nyes\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(["batch", "jobs.txt", "-j", "2"])
        .current_dir(dir.path())
        .env_remove("TASKORCH_STORE")
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"y\ny\n");
    drop(stdout);
    let mut code = None;
    let exited = wait_until(Duration::from_secs(20), || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    })
    .await;
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(exited, "taskorch kept running with nobody reading");
    assert_eq!(code, Some(Some(141)));
}

/// The spool is a copy beside the run's own capture, not a detour around
/// it: with `--store`, a batch job's history names its own command and
/// keeps its (bounded) output, as any run's does.
#[test]
fn a_stored_batch_job_keeps_its_command_and_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.txt"), "echo kept-in-history\n").unwrap();
    let done = taskorch(dir.path(), &["batch", "jobs.txt", "--store", "st"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.stdout, "kept-in-history\n");
    let runs = taskorch(dir.path(), &["runs", "--store", "st", "--json"]);
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let run = &runs[0];
    assert_eq!(run["command"], "echo kept-in-history", "{run}");
    let id = run["id"].as_str().unwrap();
    let logs = taskorch(dir.path(), &["logs", id, "--store", "st"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert_eq!(logs.stdout, "kept-in-history\n");
}
