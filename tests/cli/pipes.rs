//! Closed pipes and signals through the real binary: a reader that goes
//! away (`| head`) stops the work and exits 141 quietly; SIGINT, SIGTERM
//! and SIGHUP stop it with 128 + N (`up`: gracefully, exit 0); a signal
//! during `up`'s `[[setup]]` is handled; a second Ctrl-C forces `up`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Spawned, exited_within, taskorch};
use crate::common::{assert_all_dead, wait_for_pids};

/// `taskorch ARGS` in `dir` with stdout a pipe we hold and stderr in the
/// file `stderr` of `dir`.
fn spawn_piped(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(args)
        .current_dir(dir)
        .env_remove("TASKORCH_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("spawn taskorch")
}

/// Read `n` lines of `child`'s stdout, then close our end, as `head -n`
/// does.
fn head(child: &mut Child, n: usize) -> Vec<String> {
    let out = child.stdout.take().expect("stdout");
    let lines = BufReader::new(out)
        .lines()
        .take(n)
        .map(|l| l.expect("read line"))
        .collect();
    // The reader is dropped here: the pipe's read end is closed.
    lines
}

/// Wait (bounded) for `child` to exit; its exit code (-1 for a signal).
/// Kills it if it does not exit, so the test fails without leaving it.
async fn exit_code(child: &mut Child) -> i32 {
    match exited_within(child, Duration::from_secs(30)).await {
        Some(code) => code,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("taskorch did not exit");
        }
    }
}

fn ticker_jobs(dir: &Path) -> std::path::PathBuf {
    let pids = dir.join("pids");
    let jobs = format!(
        "[[service]]\nname = \"svc\"\nshell = \"echo $$ >> {p}; sleep 300 & echo $! >> {p}; i=0; \
         while true; do i=$((i+1)); echo line $i; sleep 0.05; done\"\n",
        p = pids.display()
    );
    std::fs::write(dir.join("jobs.toml"), jobs).unwrap();
    pids
}

#[tokio::test]
async fn up_into_a_closed_pipe_exits_141_quietly_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pids = ticker_jobs(dir.path());
    let mut up = spawn_piped(dir.path(), &["up", "jobs.toml"]);
    let first = head(&mut up, 3);
    assert!(first[0].starts_with("taskorch up jobs.toml"), "{first:?}");
    let pids = wait_for_pids(&pids, 2).await;
    assert_eq!(exit_code(&mut up).await, 141);
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(stderr, "", "a closed pipe is not an error to report");
    assert_all_dead(&pids).await;
    let store = dir.path().join(".taskorch");
    assert!(!store.join("up.sock").exists(), "stale up.sock");
    assert!(!store.join("up.pid").exists(), "stale up.pid");
    let runs = taskorch(dir.path(), &["runs", "--json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "cancelled", "{runs:?}");
}

#[tokio::test]
async fn stream_into_a_closed_pipe_stops_the_command_and_exits_141() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("echo $$ > {}; exec yes", pid_file.display());
    let mut stream = spawn_piped(dir.path(), &["stream", "--", "sh", "-c", &script]);
    assert_eq!(head(&mut stream, 1), ["y"]);
    let pids = wait_for_pids(&pid_file, 1).await;
    assert_eq!(exit_code(&mut stream).await, 141);
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn run_and_read_commands_into_a_closed_pipe_exit_141_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Far more than a pipe holds (64 KiB), also of what the store keeps.
    let line = "x".repeat(99);
    let script = format!("yes {line} | head -n 20000");
    let mut run = spawn_piped(
        dir.path(),
        &[
            "run", "--store", "st", "--name", "many", "--", "sh", "-c", &script,
        ],
    );
    assert_eq!(head(&mut run, 1), [line.as_str()]);
    assert_eq!(exit_code(&mut run).await, 141);
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(stderr, "");
    let runs = taskorch(dir.path(), &["runs", "--store", "st", "--json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap();
    let mut logs = spawn_piped(dir.path(), &["logs", "--store", "st", id]);
    assert_eq!(head(&mut logs, 1), [line.as_str()]);
    assert_eq!(exit_code(&mut logs).await, 141);
}

#[tokio::test]
async fn each_signal_stops_run_and_stream_with_128_plus_its_number() {
    for (command, signal, code) in [
        ("run", "TERM", 143),
        ("run", "HUP", 129),
        ("run", "INT", 130),
        ("stream", "TERM", 143),
        ("stream", "HUP", 129),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; sleep 300", pid_file.display());
        let mut run = Spawned::start(dir.path(), &[command, "--", "sh", "-c", &script]);
        let pids = wait_for_pids(&pid_file, 1).await;
        run.signal(signal);
        assert_eq!(run.exit_code().await, code, "{command} after SIG{signal}");
        assert_all_dead(&pids).await;
    }
}

#[tokio::test]
async fn sighup_stops_up_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let pids = ticker_jobs(dir.path());
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("svc            | line 2").await;
    let pids = wait_for_pids(&pids, 2).await;
    up.signal("HUP");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    assert!(
        up.stdout().contains("taskorch up: stopped"),
        "{}",
        up.stdout()
    );
    assert_all_dead(&pids).await;
    assert!(!dir.path().join(".taskorch/up.sock").exists());
}

#[tokio::test]
async fn ctrl_c_during_setup_stops_up_and_its_setup_step() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let jobs = format!(
        "[[setup]]\nname = \"migrate\"\nshell = \"echo $$ >> {p}; sleep 300 & echo $! >> {p}; wait\"\n\n\
         [[task]]\nname = \"never\"\nshell = \"echo ran\"\n",
        p = pid_file.display()
    );
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    let pids = wait_for_pids(&pid_file, 2).await;
    up.signal("INT");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    let out = up.stdout();
    assert!(out.contains("taskorch up: stopped"), "{out}");
    assert!(!out.contains("never"), "{out}");
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn a_second_ctrl_c_forces_up_to_stop_without_waiting_for_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    // A task in flight gets `shutdown_grace` (an hour here) to finish.
    let jobs = format!(
        "[settings]\nshutdown_grace = \"1h\"\n\n\
         [[task]]\nname = \"long\"\nshell = \"echo $$ >> {p}; sleep 300 & echo $! >> {p}; wait\"\n",
        p = pid_file.display()
    );
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    let pids = wait_for_pids(&pid_file, 2).await;
    up.signal("INT");
    up.wait_for("taskorch up: shutting down").await;
    up.signal("INT");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    assert!(
        up.stderr().contains("second signal"),
        "stderr:\n{}",
        up.stderr()
    );
    assert_all_dead(&pids).await;
}
