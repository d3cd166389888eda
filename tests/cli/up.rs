//! `taskorch up`: the example jobs file end to end, reads while it runs,
//! a second `up` on the same store, graceful shutdown without orphans.

use super::{Spawned, taskorch};
use crate::common::{assert_all_dead, wait_for_pids};

fn example() -> String {
    format!("{}/examples/jobs.toml", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn up_runs_the_example_jobs_file_then_reads_show_what_ran() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Spawned::start(
        dir.path(),
        &["up", &example(), "--store", "st", "--for", "3s"],
    );
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    let out = up.stdout();
    for expected in [
        "setup    prepare        | workspace ready",
        "setup    prepare        succeeded",
        "task     fetch          | fetched 3 files",
        "task     test           succeeded",
        "service  ticker         | tick 1",
        "launch   report         succeeded",
        "schedule heartbeat      run #1: succeeded",
        "pool     echo           \"hello\" -> \"hello\"",
        "pool     echo           \"world\" -> \"world\"",
        "taskorch up: shutting down",
        "taskorch up: stopped; runs this session:",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    // The dependency order held: `test` after both builds.
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("no {s:?}"));
    assert!(at("task     build-api      succeeded") < at("task     test           succeeded"));
    assert!(at("task     build-web      succeeded") < at("task     test           succeeded"));
    assert!(at("task     fetch          succeeded") < at("task     build-web      succeeded"));

    let runs = taskorch(
        dir.path(),
        &["runs", "--store", "st", "--limit", "100", "--json"],
    );
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    for pattern in [
        "simple",
        "concurrent",
        "long_running",
        "fire_and_forget",
        "periodic",
    ] {
        assert!(
            runs.iter().any(|r| r["pattern"] == pattern),
            "no {pattern} run: {runs:?}"
        );
    }
    assert!(
        runs.iter()
            .all(|r| r["status"] != "running" && r["status"] != "queued")
    );
    let test = runs.iter().find(|r| r["name"] == "test").unwrap();
    let id = test["id"].as_str().unwrap();

    let show = taskorch(dir.path(), &["show", "--store", "st", id]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout.contains("status     succeeded"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .contains("command    sh -c 'echo all tests passed'"),
        "{}",
        show.stdout
    );
    let json = taskorch(dir.path(), &["show", "--store", "st", id, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["name"], "test");

    let logs = taskorch(dir.path(), &["logs", "--store", "st", id]);
    assert_eq!((logs.code, logs.stdout.as_str()), (0, "all tests passed\n"));

    let failed = taskorch(
        dir.path(),
        &["runs", "--store", "st", "--status", "cancelled", "--json"],
    );
    let failed: Vec<serde_json::Value> = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(
        failed.len(),
        1,
        "the service is cancelled at shutdown: {failed:?}"
    );
    assert_eq!(failed[0]["name"], "ticker");

    let trace = taskorch(dir.path(), &["trace", "--store", "st"]);
    assert_eq!(trace.code, 0, "{trace:?}");
    for actor in ["executor", "batch", "launcher", "scheduler", "pool_keeper"] {
        assert!(
            trace.stdout.contains(actor),
            "no {actor} in:\n{}",
            trace.stdout
        );
    }
    let chrome = taskorch(
        dir.path(),
        &["trace", "--store", "st", "--chrome", "t.json"],
    );
    assert_eq!(chrome.code, 0, "{chrome:?}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    assert!(file["traceEvents"].as_array().is_some_and(|e| e.len() > 10));
}

#[tokio::test]
async fn reads_while_up_runs_a_second_up_is_refused_and_sigterm_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let jobs = format!(
        "[[service]]\nname = \"svc\"\nshell = \"echo $$ >> {p}; sleep 300 & echo $! >> {p}; i=0; \
         while true; do i=$((i+1)); echo line $i; sleep 0.1; done\"\n",
        p = pids.display()
    );
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("svc            | line 2").await;
    let pids = wait_for_pids(&pids, 2).await;

    // Reads go to the running `up` over its socket.
    let runs = taskorch(dir.path(), &["runs", "--json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "running");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = taskorch(dir.path(), &["show", &id]);
    assert!(show.stdout.contains("status     running"), "{show:?}");

    // A second `up` on the same store is refused, naming the holder.
    let second = taskorch(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
    assert_eq!(second.code, 1);
    assert_eq!(
        second.stderr,
        format!(
            "taskorch: the store .taskorch is in use by another taskorch process (taskorch up, pid {}); \
             stop it, or pass --store DIR to use another store\n",
            up.pid()
        )
    );

    // `logs --follow` gets the backlog, then live lines, and ends with the run.
    let mut follow = Spawned::start(dir.path(), &["logs", &id, "--follow"]);
    follow.wait_for("line 1\n").await;
    let seen = follow.stdout().lines().count();
    let more = format!("line {}\n", seen + 2);
    follow.wait_for(&more).await;

    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    assert_eq!(follow.exit_code().await, 0);
    assert_all_dead(&pids).await;
    assert!(!dir.path().join(".taskorch/up.sock").exists());

    // With `up` gone, reads open the file itself.
    let show = taskorch(dir.path(), &["show", &id, "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    let show: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(show["status"], "cancelled");
}

#[tokio::test]
async fn a_store_held_by_a_process_that_does_not_serve_reads_is_reported_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("echo $$ > {}; sleep 300", pid_file.display());
    let mut run = Spawned::start(
        dir.path(),
        &["run", "--store", "st", "--", "sh", "-c", &script],
    );
    let pids = wait_for_pids(&pid_file, 1).await;
    let runs = taskorch(dir.path(), &["runs", "--store", "st"]);
    assert_eq!(runs.code, 1);
    assert_eq!(
        runs.stderr,
        "taskorch: the store st is in use by another taskorch process; stop it, or pass --store DIR to use another store\n"
    );
    run.signal("INT");
    assert_eq!(run.exit_code().await, 130);
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn a_failed_setup_step_stops_up_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[setup]]\nname = \"migrate\"\nshell = \"exit 3\"\n\n[[task]]\nname = \"never\"\nshell = \"echo ran\"\n",
    )
    .unwrap();
    let out = taskorch(dir.path(), &["up", "jobs.toml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("setup    migrate        failed: exit 3"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("never"), "{}", out.stdout);
    assert_eq!(
        out.stderr,
        "taskorch: setup step \"migrate\" failed; nothing else was started\n"
    );
}

#[tokio::test]
async fn up_declares_its_queues_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Each launch holds the directory `lock` for a while: two at once
    // would make one of them fail. The queue lets one run at a time.
    let hold = "mkdir lock || exit 7; sleep 0.3; rmdir lock";
    std::fs::write(
        dir.path().join("jobs.toml"),
        format!(
            "[[queue]]\nname = \"one\"\nconcurrency = 1\nrate = \"10/1s\"\n\n\
             [[launch]]\nname = \"a\"\nshell = \"{hold}\"\nqueue = \"one\"\n\n\
             [[launch]]\nname = \"b\"\nshell = \"{hold}\"\nqueue = \"one\"\npriority = \"high\"\n"
        ),
    )
    .unwrap();
    let out = taskorch(
        dir.path(),
        &["up", "jobs.toml", "--store", "st", "--for", "2s"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    for name in ["a", "b"] {
        assert!(
            out.stdout
                .contains(&format!("launch   {name:<14} succeeded")),
            "{name} did not succeed:\n{}",
            out.stdout
        );
    }
}
