//! The FireAndForget pattern: `orch.launch(task)`, then `status`, `wait`,
//! `cancel`, `find_runs`; retention, back-pressure and shutdown.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use taskorch::{ChildState, Config, Error, Pattern, RunId, RunQuery, RunStatus, Task};
use tempfile::TempDir;

use crate::common::*;

/// A gate shell scripts wait on (`read _ < gate`) until the test opens it.
///
/// It is a FIFO the test holds open for writing, so readers block in
/// `read` (never in `open`); opening it first puts a regular empty file in
/// its place (readers arriving later read end of file at once), then closes
/// the writer (readers already waiting get end of file).
pub struct Gate {
    dir: TempDir,
    path: PathBuf,
    writer: Option<File>,
}

impl Gate {
    pub fn new() -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gate");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        // Read-write: opening a FIFO this way does not wait for a reader.
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        Gate {
            dir,
            path,
            writer: Some(writer),
        }
    }

    /// Shell code that waits for the gate to open.
    pub fn wait(&self) -> String {
        format!("read _ < {} || true", self.path.display())
    }

    /// A file in the gate's temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn open(&mut self) {
        let open = self.dir.path().join("open");
        File::create(&open).unwrap();
        std::fs::rename(&open, &self.path).unwrap();
        self.writer = None;
    }
}

/// A runtime whose runs execute one at a time.
async fn one_at_a_time() -> Runtime {
    start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await
}

#[tokio::test]
async fn launch_answers_when_accepted_and_any_number_may_wait() {
    let rt = one_at_a_time().await;
    let mut gate = Gate::new();
    let blocker = rt
        .launch(Task::shell(gate.wait()).name("blocker"))
        .await
        .unwrap();
    // The only slot is the blocker's: this run is accepted and queued, its
    // process not started.
    let id = rt
        .launch(Task::command("echo").arg("hi").name("greeting"))
        .await
        .unwrap();
    let info = rt.observe().find_run(id).unwrap();
    assert_eq!(info.status, RunStatus::Queued);
    assert_eq!(info.pattern, Pattern::FireAndForget);
    assert_eq!(info.name, "greeting");
    assert!(info.started.is_none() && info.finished.is_none());

    let early: Vec<_> = (0..3)
        .map(|_| {
            let orch = rt.orch.clone();
            tokio::spawn(async move { orch.wait(id).await })
        })
        .collect();
    gate.open();
    for waiter in early {
        let out = waiter.await.unwrap().unwrap();
        assert_eq!(out.stdout_str(), "hi\n");
        assert_eq!(out.run_id, id);
    }
    let late = rt.wait(id).await.unwrap();
    assert_eq!(late.stdout_str(), "hi\n");
    assert!(rt.wait(blocker).await.unwrap().success());

    let info = rt.observe().find_run(id).unwrap();
    assert_eq!(info.status, RunStatus::Succeeded);
    assert_eq!((info.exit_code, info.attempts), (Some(0), 1));
    assert!(info.started.is_some() && info.finished >= info.started);
}

#[tokio::test]
async fn a_failing_launched_run_is_an_output_and_its_retries_count() {
    let rt = start_runtime().await;
    let id = rt
        .launch(
            Task::shell("echo nope >&2; exit 3")
                .retries(1)
                .backoff(taskorch::Backoff::fixed(Duration::from_millis(10))),
        )
        .await
        .unwrap();
    let out = rt.wait(id).await.unwrap();
    assert!(!out.success());
    assert_eq!((out.exit_code, out.attempts), (Some(3), 2));
    assert_eq!(out.stderr_str(), "nope\n");
    let info = rt.observe().find_run(id).unwrap();
    assert_eq!(info.status, RunStatus::Failed);
    assert_eq!((info.exit_code, info.attempts), (Some(3), 2));
}

#[tokio::test]
async fn bad_input_is_returned_by_launch_and_nothing_is_registered() {
    let rt = start_runtime().await;
    let err = rt
        .launch(Task::command("no-such-program-xyz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-executable.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let program = file.to_str().unwrap().to_string();
    let err = rt.launch(Task::command(program.clone())).await.unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { program: p } if *p == program),
        "{err:?}"
    );

    for task in [
        Task::command(""),
        Task::command("echo").arg("a\0b"),
        Task::shell("echo").arg("stray"),
        Task::command("true").current_dir(dir.path().join("missing")),
    ] {
        let err = rt.launch(task.clone()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidTask(_)), "{task:?}: {err:?}");
    }

    let err = rt
        .launch(Task::action("nope", serde_json::json!(null)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );
    assert!(rt.runs().is_empty(), "refused launches leave no run behind");
}

#[tokio::test]
async fn unknown_and_foreign_ids_are_unknown() {
    let rt = start_runtime().await;
    let other = start_runtime().await;
    let theirs = other.launch(Task::command("true")).await.unwrap();
    let never: RunId = "0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11".parse().unwrap();
    for id in [theirs, never] {
        assert_eq!(rt.status(id), None);
        assert_eq!(rt.observe().find_run(id), None);
        assert!(matches!(rt.wait(id).await, Err(Error::UnknownRun(x)) if x == id));
        assert!(matches!(rt.cancel(id).await, Err(Error::UnknownRun(x)) if x == id));
    }
    assert!(other.wait(theirs).await.unwrap().success());
}

#[tokio::test]
async fn evicted_runs_are_unknown_and_live_runs_are_never_evicted() {
    let rt = start_with(Config {
        history_limit: 2,
        ..fast_config()
    })
    .await;
    let mut gate = Gate::new();
    let live = rt.launch(Task::shell(gate.wait())).await.unwrap();
    wait_for_status(&rt, live, RunStatus::Running).await;
    let mut done = Vec::new();
    for _ in 0..4 {
        let id = rt.launch(Task::command("true")).await.unwrap();
        rt.wait(id).await.unwrap();
        done.push(id);
    }
    for &id in &done[..2] {
        assert_eq!(rt.status(id), None, "evicted");
        assert!(matches!(rt.wait(id).await, Err(Error::UnknownRun(x)) if x == id));
        assert!(matches!(rt.cancel(id).await, Err(Error::UnknownRun(x)) if x == id));
    }
    for &id in &done[2..] {
        assert_eq!(rt.status(id), Some(RunStatus::Succeeded));
    }
    assert_eq!(rt.status(live), Some(RunStatus::Running));
    gate.open();
    assert!(rt.wait(live).await.unwrap().success());
}

#[tokio::test]
async fn cancelling_a_launched_run_kills_its_whole_group() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let id = rt.launch(Task::shell(script)).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    rt.cancel(id).await.unwrap();
    assert_ends_cancelled(&rt, id).await;
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn cancelling_a_queued_launched_run_ends_it_before_it_starts() {
    let rt = one_at_a_time().await;
    let mut gate = Gate::new();
    let blocker = rt.launch(Task::shell(gate.wait())).await.unwrap();
    let marker = gate.file("ran");
    let queued = rt
        .launch(Task::command("touch").arg(marker.to_str().unwrap()))
        .await
        .unwrap();
    rt.cancel(queued).await.unwrap();
    assert!(matches!(
        rt.wait(queued).await,
        Err(Error::Cancelled { .. })
    ));
    let info = rt.observe().find_run(queued).unwrap();
    assert_eq!(info.status, RunStatus::Cancelled);
    assert!(info.started.is_none(), "it never ran");
    gate.open();
    assert!(rt.wait(blocker).await.unwrap().success());
    assert!(!marker.exists());
}

#[tokio::test]
async fn past_max_queued_launch_answers_queue_full() {
    let rt = start_with(Config {
        max_queued: 2,
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let mut gate = Gate::new();
    let first = rt.launch(Task::shell(gate.wait())).await.unwrap();
    let second = rt.launch(Task::shell(gate.wait())).await.unwrap();
    let err = rt.launch(Task::command("true")).await.unwrap_err();
    assert!(matches!(err, Error::QueueFull { limit: 2 }), "{err:?}");
    assert!(err.to_string().contains("max_queued"), "{err}");
    assert_eq!(rt.runs().len(), 2);

    gate.open();
    for id in [first, second] {
        assert!(rt.wait(id).await.unwrap().success());
    }
    // The bound counts runs in flight, so there is room again. A run's task
    // ends just after its outcome is recorded: allow for that instant.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut again = rt.launch(Task::command("true")).await;
    while matches!(again, Err(Error::QueueFull { .. })) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        again = rt.launch(Task::command("true")).await;
    }
    assert!(rt.wait(again.unwrap()).await.unwrap().success());
}

#[tokio::test]
async fn a_zero_max_queued_is_an_invalid_config() {
    let err = taskorch::Orchestrator::start(Config {
        max_queued: 0,
        ..fast_config()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(why) if why.contains("max_queued")),
        "{err:?}"
    );
}

#[tokio::test]
async fn launch_after_shutdown_is_refused() {
    let rt = start_runtime().await;
    rt.shutdown().await.unwrap();
    let err = rt.launch(Task::command("true")).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
}

#[tokio::test]
async fn shutdown_ends_launched_runs_and_answers_their_waiters() {
    // A grace long enough for the quick run even on a loaded machine.
    let rt = start_with(Config {
        shutdown_grace: Duration::from_secs(2),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let long = rt.launch(Task::shell(script)).await.unwrap();
    let started = dir.path().join("started");
    let quick = rt
        .launch(Task::shell(format!(
            "touch {}; sleep 0.3; echo ok",
            started.display()
        )))
        .await
        .unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    assert!(wait_until(Duration::from_secs(10), || started.exists()).await);
    let orch = rt.orch.clone();
    let waiter = tokio::spawn(async move { orch.wait(long).await });

    // Shutdown begins while both run: the quick one fits in the grace, the
    // long one is terminated after it.
    tokio::time::timeout(Duration::from_secs(15), rt.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    let err = waiter.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    assert!(matches!(rt.wait(long).await, Err(Error::ShuttingDown)));
    assert_eq!(rt.status(long), Some(RunStatus::Interrupted));
    assert_eq!(rt.wait(quick).await.unwrap().stdout_str(), "ok\n");
    assert_eq!(rt.status(quick), Some(RunStatus::Succeeded));
    // SIGKILL is delivered asynchronously: dead within a bounded wait.
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn find_runs_by_status_name_and_recency() {
    let rt = start_runtime().await;
    let mut ids = Vec::new();
    for (name, program) in [
        ("ok", "true"),
        ("bad", "false"),
        ("ok", "true"),
        ("bad", "false"),
        ("ok", "true"),
    ] {
        let id = rt.launch(Task::command(program).name(name)).await.unwrap();
        rt.wait(id).await.unwrap();
        ids.push(id);
    }
    let found = |q: RunQuery| {
        rt.observe()
            .find_runs(&q)
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found(RunQuery::new().status(RunStatus::Failed)),
        [ids[1], ids[3]]
    );
    assert_eq!(found(RunQuery::new().name("ok")), [ids[0], ids[2], ids[4]]);
    assert_eq!(found(RunQuery::new().most_recent(2)), [ids[3], ids[4]]);
    assert_eq!(
        found(RunQuery::new().name("ok").most_recent(2)),
        [ids[2], ids[4]]
    );
    assert_eq!(found(RunQuery::new().pattern(Pattern::FireAndForget)), ids);
    assert!(found(RunQuery::new().active()).is_empty());
    assert!(found(RunQuery::new().pattern(Pattern::Simple)).is_empty());
    // Simple runs share the registry.
    let simple = rt.run(Task::command("true").name("ok")).await.unwrap();
    assert_eq!(
        found(RunQuery::new().pattern(Pattern::Simple)),
        [simple.run_id]
    );
}

#[tokio::test]
async fn many_launched_runs_all_finish() {
    let rt = start_runtime().await;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            rt.launch(Task::command("echo").arg(i.to_string()))
                .await
                .unwrap(),
        );
    }
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(rt.wait(id).await.unwrap().stdout_str(), format!("{i}\n"));
    }
}

#[tokio::test]
async fn system_status_reports_the_launcher() {
    let rt = start_runtime().await;
    let mut gate = Gate::new();
    let id = rt.launch(Task::shell(gate.wait())).await.unwrap();
    wait_for_status(&rt, id, RunStatus::Running).await;
    let status = rt.system_status().await.unwrap();
    let launcher = status.child("launcher").unwrap();
    assert_eq!(launcher.state, ChildState::Running);
    assert_eq!(launcher.restarts, 0);
    assert!(
        launcher
            .detail
            .as_deref()
            .unwrap()
            .starts_with("1 launched"),
        "{:?}",
        launcher.detail
    );
    gate.open();
    rt.wait(id).await.unwrap();
}
