//! What a script reads from the read commands: short run ids, `--json` in
//! one shape (RFC 3339 times, durations in seconds), truncation reported,
//! the trace in one unit and on stdout; and the same answers through a
//! running `up` as from the store file.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::{Spawned, taskorch};

/// `runs --json` of the store in `dir`.
fn runs_json(dir: &Path) -> Vec<Value> {
    let out = taskorch(dir, &["runs", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// `value` is an RFC 3339 time.
fn assert_time(run: &Value, key: &str) {
    let text = run[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {run}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{key} {text:?} is not RFC 3339: {e}"));
}

#[test]
fn runs_and_show_json_use_rfc3339_times_seconds_and_carry_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let ran = taskorch(
        dir.path(),
        &[
            "run",
            "--store",
            ".taskorch",
            "--name",
            "greet",
            "--",
            "echo",
            "hi there",
        ],
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let runs = runs_json(dir.path());
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    for key in ["queued", "started", "finished"] {
        assert_time(run, key);
    }
    assert!(
        run["duration"].as_f64().is_some_and(|d| d >= 0.0),
        "duration is not seconds: {run}"
    );
    assert_eq!(run["command"], "echo 'hi there'");
    assert_eq!(run["name"], "greet");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["stdout_bytes"], 9);
    assert_eq!(run["stdout_truncated"], false);

    let id = run["id"].as_str().unwrap();
    let show = taskorch(dir.path(), &["show", id, "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(&shown, run, "show --json and runs --json differ");
}

#[test]
fn short_ids_are_printed_by_runs_and_accepted_by_show_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    for word in ["one", "two", "three"] {
        let out = taskorch(
            dir.path(),
            &["run", "--store", ".taskorch", "--", "echo", word],
        );
        assert_eq!(out.code, 0, "{out:?}");
    }
    let runs = runs_json(dir.path());
    let table = taskorch(dir.path(), &["runs"]);
    for run in &runs {
        let id = run["id"].as_str().unwrap();
        let short = run["short_id"].as_str().unwrap();
        assert!(short.len() >= 8, "{short}");
        assert!(id.replace('-', "").ends_with(short), "{short} of {id}");
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("{short} "))),
            "{short} not in\n{}",
            table.stdout
        );
        let show = taskorch(dir.path(), &["show", short]);
        assert_eq!(show.code, 0, "{show:?}");
        assert!(
            show.stdout.starts_with(&format!("id         {id}\n")),
            "{}",
            show.stdout
        );
        // Six digits are enough when they are unique (they are among three
        // random 24-bit tails nearly always; if not, the test is moot).
        let six = &short[short.len() - 6..];
        let unique = runs
            .iter()
            .filter(|r| r["id"].as_str().unwrap().replace('-', "").ends_with(six))
            .count()
            == 1;
        if unique {
            let logs = taskorch(dir.path(), &["logs", six]);
            assert_eq!(logs.code, 0, "{logs:?}");
            let show = taskorch(dir.path(), &["show", six, "--json"]);
            let shown: Value = serde_json::from_str(&show.stdout).unwrap();
            assert_eq!(shown["id"], id);
            let word = shown["command"]
                .as_str()
                .unwrap()
                .trim_start_matches("echo ");
            assert_eq!(logs.stdout, format!("{word}\n"));
        }
    }

    // Unknown: exit 1, like an unknown full id.
    let unknown = taskorch(dir.path(), &["show", "abcdef12"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.stderr, "taskorch: no run abcdef12 in the store\n");
    // Malformed (too short, not hex): exit 2 from the parser.
    for bad in ["4b11", "xyz-not-an-id"] {
        let out = taskorch(dir.path(), &["logs", bad]);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "invalid value '{bad}' for '<ID>': not a run id: give the full id or its last 6 or more hex digits"
            )),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn show_and_logs_say_the_capture_was_truncated_with_the_bytes_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // 1,100,000 bytes against the default 1 MiB capture cap.
    let ran = run_stored(dir.path(), "yes | head -c 1100000");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let dropped = 1_100_000 - 1_048_576;
    let run = &runs_json(dir.path())[0];
    assert_eq!(run["stdout_truncated"], true, "{run}");
    assert_eq!(run["stdout_dropped"], dropped, "{run}");
    assert_eq!(run["stderr_truncated"], false, "{run}");
    let id = run["short_id"].as_str().unwrap();

    let show = taskorch(dir.path(), &["show", id]);
    assert!(
        show.stdout.contains(&format!(
            "output     1048576 bytes stdout (truncated: {dropped} bytes dropped), 0 bytes stderr\n"
        )),
        "{}",
        show.stdout
    );
    let logs = taskorch(dir.path(), &["logs", id]);
    assert_eq!(logs.code, 0);
    assert!(
        logs.stderr.contains(&format!(
            "taskorch: stdout was truncated: {dropped} bytes past the capture limit were dropped\n"
        )),
        "{}",
        logs.stderr
    );
}

#[test]
fn trace_uses_one_unit_json_style_and_writes_chrome_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        taskorch(dir.path(), &["run", "--store", ".taskorch", "--", "true"]).code,
        0
    );
    let summary = taskorch(dir.path(), &["trace"]);
    assert_eq!(summary.code, 0, "{summary:?}");
    let header = summary.stdout.lines().next().unwrap();
    assert!(
        header.contains("WORST QUEUE ms") && header.contains("TOTAL HANDLING ms"),
        "{header}"
    );
    for line in summary.stdout.lines().skip(1).take_while(|l| !l.is_empty()) {
        // Every time column is a plain number of milliseconds.
        for cell in line.split_whitespace().skip(3) {
            assert!(cell.parse::<f64>().is_ok(), "{cell:?} in {line:?}");
        }
    }

    let json = taskorch(dir.path(), &["trace", "--json"]);
    assert_eq!(json.code, 0);
    for line in json.stdout.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert_time(&event, "started_at");
        assert!(event["handling_secs"].is_f64(), "{event}");
        assert!(event.get("handling_ns").is_none(), "{event}");
    }

    let chrome = taskorch(dir.path(), &["trace", "--chrome", "-"]);
    assert_eq!(chrome.code, 0, "{chrome:?}");
    let parsed: Value = serde_json::from_str(&chrome.stdout).unwrap();
    assert!(
        parsed["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(!dir.path().join("-").exists(), "wrote a file named -");
}

/// Through a running `up` (its socket) and from the file after it exits,
/// `show --json` and `runs --json` print the same for a finished run.
#[tokio::test]
async fn a_running_up_and_the_store_file_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[task]]\nname = \"t\"\ncommand = [\"echo\", \"graph done\"]\n",
    )
    .unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("graph done").await;
    let finished = crate::common::wait_until(std::time::Duration::from_secs(20), || {
        let out = taskorch(dir.path(), &["runs", "--json", "--name", "t"]);
        serde_json::from_str::<Vec<Value>>(&out.stdout)
            .is_ok_and(|runs| runs.first().is_some_and(|r| r["status"] == "succeeded"))
    })
    .await;
    assert!(finished, "the task never finished: {}", up.stdout());
    let served_runs = taskorch(dir.path(), &["runs", "--json", "--name", "t"]);
    let served: Vec<Value> = serde_json::from_str(&served_runs.stdout).unwrap();
    let short = served[0]["short_id"].as_str().unwrap().to_string();
    let served_show = taskorch(dir.path(), &["show", &short, "--json"]);
    assert_eq!(served_show.code, 0, "{served_show:?}");
    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "{}", up.stderr());

    let file_runs = taskorch(dir.path(), &["runs", "--json", "--name", "t"]);
    let file: Vec<Value> = serde_json::from_str(&file_runs.stdout).unwrap();
    assert_eq!(served, file);
    assert_eq!(served[0]["command"], "echo 'graph done'");
    let file_show = taskorch(dir.path(), &["show", &short, "--json"]);
    let served_show: Value = serde_json::from_str(&served_show.stdout).unwrap();
    let file_show: Value = serde_json::from_str(&file_show.stdout).unwrap();
    assert_eq!(served_show, file_show);
    assert_eq!(served_show, served[0]);
}

/// A `--json` time (RFC 3339) as a `SystemTime`.
fn parse_time(text: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .into()
}

/// `logs ID --timestamps --json`: each line's seq, text and time.
fn timed_lines(dir: &Path, id: &str) -> Vec<(u64, String, SystemTime)> {
    let out = taskorch(dir, &["logs", id, "--timestamps", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            let time = line["time"]
                .as_str()
                .unwrap_or_else(|| panic!("no time in {line}"));
            (
                line["seq"].as_u64().unwrap(),
                line["text"].as_str().unwrap().to_string(),
                parse_time(time),
            )
        })
        .collect()
}

/// `times` never go back, and lie within the run's `started`..`finished`
/// (`show --json`).
fn assert_in_order_within_the_run(dir: &Path, id: &str, times: &[SystemTime]) {
    let show = taskorch(dir, &["show", id, "--json"]);
    let run: Value = serde_json::from_str(&show.stdout).unwrap();
    let started = parse_time(run["started"].as_str().unwrap());
    let finished = parse_time(run["finished"].as_str().unwrap());
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        times.iter().all(|&t| started <= t && t <= finished),
        "{times:?} not within {started:?}..{finished:?}"
    );
}

/// `text` as `logs --timestamps` prints a line: its time (RFC 3339, UTC,
/// milliseconds, as `stream --timestamps`) and its text.
fn split_stamp(line: &str) -> (SystemTime, &str) {
    let (stamp, text) = line.split_once(' ').unwrap_or((line, ""));
    assert!(
        stamp.len() == "2026-12-07T20:47:38.841Z".len() && stamp.ends_with('Z'),
        "{stamp:?} is not RFC 3339 UTC to the millisecond"
    );
    (parse_time(stamp), text)
}

/// `taskorch run --store .taskorch -- sh -c SCRIPT` in `dir`.
fn run_stored(dir: &Path, script: &str) -> super::Done {
    taskorch(
        dir,
        &["run", "--store", ".taskorch", "--", "sh", "-c", script],
    )
}

fn millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[test]
fn logs_timestamps_print_each_lines_capture_time_from_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let ran = run_stored(dir.path(), "echo one; echo two >&2; sleep 0.1; echo three");
    assert_eq!(ran.code, 0, "{ran:?}");
    let id = runs_json(dir.path())[0]["short_id"]
        .as_str()
        .unwrap()
        .to_string();

    let lines = timed_lines(dir.path(), &id);
    let mut texts: Vec<&str> = lines.iter().map(|(_, text, _)| text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["one", "three", "two"]);
    assert!(lines.windows(2).all(|w| w[0].0 < w[1].0), "in seq order");
    let times: Vec<SystemTime> = lines.iter().map(|l| l.2).collect();
    assert_in_order_within_the_run(dir.path(), &id, &times);

    // Text: each line prefixed with its time, stderr's on stderr.
    let logs = taskorch(dir.path(), &["logs", &id, "--timestamps"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    let printed: Vec<(SystemTime, &str)> = logs
        .stdout
        .lines()
        .chain(logs.stderr.lines())
        .map(split_stamp)
        .collect();
    assert_eq!(printed.len(), 3, "{logs:?}");
    for (_, text, time) in &lines {
        let (stamp, _) = printed
            .iter()
            .find(|(_, t)| t == text)
            .unwrap_or_else(|| panic!("{text} not printed: {logs:?}"));
        assert_eq!(millis(*stamp), millis(*time), "{text}");
    }
    assert!(logs.stderr.lines().all(|l| l.ends_with(" two")), "{logs:?}");

    // Without the flag, nothing changes.
    let plain = taskorch(dir.path(), &["logs", &id]);
    assert_eq!(plain.stdout, "one\nthree\n");
    let json = taskorch(dir.path(), &["logs", &id, "--json"]);
    assert!(!json.stdout.contains("\"time\""), "{json:?}");
}

/// Through a running `up`, `logs --timestamps` (and `-f`) print the times
/// the ring captured; after `up` exits, the store file has the same ones.
#[tokio::test]
async fn logs_timestamps_work_through_a_running_up_and_follow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[service]]\nname = \"svc\"\nshell = \"i=0; while true; do i=$((i+1)); \
         echo line $i; sleep 0.05; done\"\n",
    )
    .unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("| line 2").await;
    let runs = runs_json(dir.path());
    let id = runs[0]["id"].as_str().unwrap().to_string();

    let mut follow = Spawned::start(dir.path(), &["logs", &id, "-f", "--timestamps"]);
    follow.wait_for(" line 4\n").await;
    let served = timed_lines(dir.path(), &id);
    assert!(served.len() >= 2, "{served:?}");

    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "{}", up.stderr());
    assert_eq!(follow.exit_code().await, 0, "{}", follow.stderr());

    // From the file: the times the ring had, kept by the store.
    let stored = timed_lines(dir.path(), &id);
    assert!(stored.len() >= served.len());
    for line in &served {
        assert!(stored.contains(line), "{line:?} not stored as served");
    }
    let times: Vec<SystemTime> = stored.iter().map(|l| l.2).collect();
    assert_in_order_within_the_run(dir.path(), &id, &times);
    // What `-f` printed: the same times, to the millisecond.
    let followed = follow.stdout();
    assert!(!followed.is_empty());
    for line in followed.lines() {
        let (stamp, text) = split_stamp(line);
        let (_, _, time) = stored
            .iter()
            .find(|(_, t, _)| t == text)
            .unwrap_or_else(|| panic!("{line:?} not in the store"));
        assert_eq!(millis(stamp), millis(*time), "{line}");
    }
}
