//! Durable state: history, output and outcomes across a restart, runs a
//! crash cut short, queued runs started again once, schedules restored,
//! retention, and the store's bad input.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;
use taskorch::RunQuery;
use taskorch::schedule::{CatchUp, Clock};
use taskorch::{Config, Error, Orchestrator, RunStatus, ScheduleSpec, Task, Trigger};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{fast_config, read_pids, wait_until};

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

/// The `durable` example started in `mode` on store `db` (its runs mark
/// `marker`), and its stdout as lines; killed if dropped.
pub fn start_durable(
    db: &Path,
    marker: &Path,
    mode: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = tokio::process::Command::new(example("durable"))
        .arg(db)
        .arg(marker)
        .arg(mode)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// The example binary the crash tests drive (`cargo test` builds it).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/tests-<hash> -> target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join(name))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (which builds the examples), or \
         `cargo build --example {name}` first",
        path.display()
    );
    path
}

#[tokio::test]
async fn history_output_and_outcomes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    let out = orch
        .run(Task::shell("echo hello; echo oops >&2").name("greet"))
        .await
        .unwrap();
    let greet = out.run_id;
    let failed = orch
        .launch(Task::shell("exit 3").name("fail"))
        .await
        .unwrap();
    let slow = orch
        .launch(
            Task::command("sleep")
                .arg("5")
                .timeout(Duration::from_millis(100))
                .name("slow"),
        )
        .await
        .unwrap();
    assert!(!orch.wait(failed).await.unwrap().success());
    assert!(matches!(orch.wait(slow).await, Err(Error::TimedOut { .. })));
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    let info = orch
        .observe()
        .find_run(greet)
        .expect("a run from before the restart");
    assert_eq!(
        (info.name.as_str(), info.status, info.exit_code),
        ("greet", RunStatus::Succeeded, Some(0))
    );
    assert!(info.started.is_some() && info.finished.is_some());
    assert_eq!(orch.status(failed), Some(RunStatus::Failed));
    assert_eq!(orch.status(slow), Some(RunStatus::TimedOut));
    let lines: Vec<String> = orch
        .output(greet)
        .expect("output of a run from before the restart")
        .lines
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(lines, ["hello", "oops"]);
    let again = orch.wait(greet).await.unwrap();
    assert_eq!(again.stdout_str(), "hello\n");
    assert_eq!(again.stderr_str(), "oops\n");
    assert!(
        matches!(orch.wait(slow).await, Err(Error::TimedOut { run: Some(id), .. }) if id == slow)
    );

    let all = orch.observe().history(&RunQuery::new()).unwrap();
    let ids: Vec<_> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, [slow, failed, greet], "newest first");
    let named = orch
        .observe()
        .history(&RunQuery::new().name("fail"))
        .unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].id, failed);
    let by_status = orch
        .observe()
        .history(&RunQuery::new().status(RunStatus::Succeeded))
        .unwrap();
    assert_eq!(by_status.len(), 1);
    assert_eq!(
        orch.observe()
            .history(&RunQuery::new().most_recent(2))
            .unwrap()
            .len(),
        2
    );
    let future = SystemTime::now() + Duration::from_secs(3600);
    assert!(
        orch.observe()
            .history(&RunQuery::new().since(future))
            .unwrap()
            .is_empty()
    );
    let past = SystemTime::now() - Duration::from_secs(3600);
    assert!(
        orch.observe()
            .history(&RunQuery::new().until(past))
            .unwrap()
            .is_empty()
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_store_history_reads_memory() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let id = orch
        .run(Task::shell("true").name("mem"))
        .await
        .unwrap()
        .run_id;
    let found = orch
        .observe()
        .history(&RunQuery::new().name("mem"))
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    orch.shutdown().await.unwrap();
}

/// A child process (the `durable` example, "hold" mode) launches a blocker
/// and queues four runs behind it (concurrency 1), then is killed with
/// SIGKILL. A restart must interrupt the blocker, stop its process group
/// (grandchild included), and run each queued run exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_interrupts_running_runs_and_resumes_queued_ones_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    let (mut child, mut lines) = start_durable(&db, &marker, "hold");
    let (mut blocker, mut queued, mut action) = (None, Vec::new(), None);
    while let Some(line) = lines.next_line().await.unwrap() {
        match line.split_once(' ') {
            Some(("blocker", id)) => blocker = Some(id.parse().unwrap()),
            Some(("queued", id)) => queued.push(id.parse().unwrap()),
            Some(("queued-action", id)) => action = Some(id.parse().unwrap()),
            _ if line == "ready" => break,
            _ => {}
        }
    }
    let (blocker, action) = (blocker.expect("blocker launched"), action.unwrap());
    let pids = crate::common::wait_for_pids(&marker.with_extension("pids"), 2).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // The host's guardian stops the blocker's group within about a second
    // of the kill (tests/containment.rs); the restart below must work
    // whether or not it has got there yet.

    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    assert_eq!(orch.status(blocker), Some(RunStatus::Interrupted));
    crate::common::assert_all_dead(&pids).await;
    for &id in &queued {
        assert!(
            matches!(orch.wait(id).await, Ok(out) if out.success()),
            "resumed run {id} succeeds"
        );
    }
    let marks = std::fs::read_to_string(&marker).unwrap();
    for id in &queued {
        assert_eq!(
            marks.matches(&id.to_string()).count(),
            1,
            "run {id} ran once"
        );
    }
    // The action run waits, queued, for its action.
    assert_eq!(orch.status(action), Some(RunStatus::Queued));
    orch.register_action("echo", |input| async move { Ok(input) });
    let out = orch.wait(action).await.unwrap();
    assert_eq!(out.value, Some(json!({"n": 1})));
    orch.shutdown().await.unwrap();
    drop(orch);

    // A second restart starts nothing again.
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let active = orch
        .observe()
        .history(&RunQuery::new().status(RunStatus::Queued))
        .unwrap();
    assert!(active.is_empty());
    orch.shutdown().await.unwrap();
    let marks = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(marks.lines().count(), queued.len(), "nothing ran twice");
    assert_eq!(read_pids(&marker.with_extension("pids")), pids);
}

#[tokio::test]
async fn schedules_come_back_with_their_state_and_are_adopted_when_added_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let spec = || {
        ScheduleSpec::new(
            "beat",
            Trigger::every(Duration::from_millis(30)),
            Task::command("true"),
        )
    };
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    let beat = orch.schedule(spec()).await.unwrap();
    assert!(wait_until(Duration::from_secs(10), || beat.info().runs >= 2).await);
    beat.disable().await.unwrap();
    let before = beat.info();
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    let restored = orch
        .observe()
        .schedules()
        .find("beat")
        .expect("restored on start");
    let info = restored.info();
    assert!(!info.enabled, "disabled stays disabled");
    assert_eq!(info.runs, before.runs);
    assert_eq!(info.last.map(|r| r.id), before.last.map(|r| r.id));
    // Added again by the application: adopted, not a duplicate.
    let adopted = orch.schedule(spec()).await.expect("adopted");
    assert_eq!(adopted.info().runs, before.runs);
    // Added twice in one session: a duplicate.
    assert!(matches!(
        orch.schedule(spec()).await,
        Err(Error::DuplicateSchedule(name)) if name == "beat"
    ));
    adopted.enable().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || adopted.info().runs
            > before.runs)
        .await
    );
    adopted.remove().await.unwrap();
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    assert!(
        orch.observe().schedules().find("beat").is_none(),
        "removed stays removed"
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tick_missed_while_down_follows_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let interval = Duration::from_millis(400);
    // The downtime is simulated: the second start's wall clock is two
    // intervals later, so the test does not have to sleep through it.
    let down_at = SystemTime::now();
    let at = |when: SystemTime| Config {
        clock: Clock::simulated(when),
        ..stored(&path)
    };
    let orch = Orchestrator::start(at(down_at)).await.unwrap();
    for (name, catch_up) in [("last", CatchUp::Last), ("skip", CatchUp::Skip)] {
        let spec = ScheduleSpec::new(name, Trigger::every(interval), Task::command("true"))
            .catch_up(catch_up)
            .grace(Duration::from_millis(50));
        orch.schedule(spec).await.unwrap();
    }
    orch.shutdown().await.unwrap();
    drop(orch);
    // Down for more than an interval: the first tick is missed.
    let orch = Orchestrator::start(at(down_at + interval * 2))
        .await
        .unwrap();
    let last = orch.observe().schedules().find("last").unwrap();
    let skip = orch.observe().schedules().find("skip").unwrap();
    assert!(wait_until(Duration::from_secs(10), || last.info().missed >= 1).await);
    assert!(
        wait_until(Duration::from_secs(10), || last.info().runs >= 1).await,
        "CatchUp::Last runs once for the missed ticks"
    );
    assert!(wait_until(Duration::from_secs(10), || skip.info().missed >= 1).await);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_applies_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let config = || Config {
        history_limit: 3,
        ..stored(&path)
    };
    let orch = Orchestrator::start(config()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            orch.run(Task::shell(format!("echo {i}")))
                .await
                .unwrap()
                .run_id,
        );
    }
    orch.shutdown().await.unwrap();
    drop(orch);
    let orch = Orchestrator::start(config()).await.unwrap();
    let kept: Vec<_> = orch
        .observe()
        .history(&RunQuery::new())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kept, [ids[7], ids[6], ids[5]]);
    assert!(
        orch.observe().find_run(ids[0]).is_none(),
        "the oldest are forgotten"
    );
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/state.redb");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    assert!(path.exists());
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let path = file.join("state.redb");
    let err = Orchestrator::start(stored(&path)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Store { path: p, reason } if p == &path && reason.contains("directory")),
        "{err}"
    );
}

#[tokio::test]
async fn a_corrupt_file_fails_the_start_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let garbage: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Orchestrator::start(stored(&path)).await.unwrap_err();
    let Error::Store { path: p, reason } = &err else {
        panic!("expected Error::Store, got {err}")
    };
    assert_eq!(p, &path);
    assert!(
        reason.contains("move it aside"),
        "tells what to do: {reason}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "never overwritten");
}

#[tokio::test]
async fn a_second_orchestrator_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let first = Orchestrator::start(stored(&path)).await.unwrap();
    let id = first.run(Task::command("true")).await.unwrap().run_id;
    let err = Orchestrator::start(stored(&path)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Store { path: p, reason } if p == &path && reason.contains("in use")),
        "{err}"
    );
    // The first one is unharmed.
    assert_eq!(first.status(id), Some(RunStatus::Succeeded));
    first.run(Task::command("true")).await.unwrap();
    first.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_file_is_a_store_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    Orchestrator::start(stored(&path))
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root ignores file modes; the immutable flag binds root too.
    let immutable = std::fs::OpenOptions::new().write(true).open(&path).is_ok()
        && std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
    let result = Orchestrator::start(stored(&path)).await;
    if immutable {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&path)
            .status();
    }
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Store { path: p, .. } if p == &path),
        "{err}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
}
