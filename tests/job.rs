//! Job options on a task (`Task::key`, `label`, `priority`, `queue`,
//! `start_at`, `start_after`): malformed ones are refused with a typed
//! error before anything runs, and a run's options are stored with it and
//! read back after the store is reopened.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use taskorch::task::{JobOptions, Start};
use taskorch::{Config, Error, Orchestrator, Priority, QueueSpec, RunStatus, Task};

use crate::common::fast_config;

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

/// A task with every option. The start is in the past, so it is due at
/// once. Its queue, "reports", is declared before it is launched.
fn keyed(at: SystemTime) -> Task {
    Task::command("true")
        .name("keyed")
        .key("training_session_123")
        .label("bot", "b-7")
        .label("strategy", "mean-revert")
        .priority(Priority::High)
        .queue("reports")
        .start_at(at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_job_options_are_read_back_after_the_store_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    // Whole microseconds: the store keeps times to the microsecond.
    let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_001);
    let expected = JobOptions {
        key: Some("training_session_123".into()),
        labels: [("bot", "b-7"), ("strategy", "mean-revert")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        priority: Priority::High,
        queue: Some("reports".into()),
        start: Some(Start::At(at)),
    };
    assert_eq!(keyed(at).job(), &expected);

    let (id, plain) = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        orch.queue(QueueSpec::new("reports")).await.unwrap();
        let id = orch.launch(keyed(at)).await.unwrap();
        let plain = orch.launch(Task::command("true")).await.unwrap();
        assert_eq!(orch.wait(id).await.unwrap().exit_code, Some(0));
        orch.wait(plain).await.unwrap();
        orch.shutdown().await.unwrap();
        (id, plain)
    };

    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let run = orch.observe().stored_run(id).expect("the run is stored");
    assert_eq!(run.info.status, RunStatus::Succeeded);
    assert_eq!(run.job, expected);
    assert_eq!(run.due, Some(at), "a start_at is due at its own time");
    assert_eq!(run.rerun_of, None);
    assert_eq!(run.task.expect("its task").job(), &expected);
    let plain = orch.observe().stored_run(plain).unwrap();
    assert!(plain.job.is_empty() && plain.due.is_none());
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_options_are_refused_before_anything_runs() {
    let orch = Orchestrator::start(fast_config()).await.unwrap();
    let cases = [
        (Task::command("true").key(""), "invalid_key"),
        (Task::command("true").key("a\nb"), "invalid_key"),
        (Task::command("true").label("", "v"), "invalid_label"),
        (
            Task::command("true").label("k", "v".repeat(1025)),
            "invalid_label",
        ),
        (Task::command("true").queue("no spaces"), "invalid_queue"),
        (
            Task::command("true").start_after(Duration::from_secs(u64::MAX)),
            "invalid_duration",
        ),
    ];
    for (task, kind) in cases {
        let launched = orch.launch(task.clone()).await;
        assert_eq!(launched.as_ref().map_err(Error::kind), Err(kind), "launch");
        let ran = orch.run(task).await;
        assert_eq!(ran.as_ref().map_err(Error::kind), Err(kind), "run");
    }
    assert!(
        orch.observe()
            .history(&Default::default())
            .unwrap()
            .is_empty(),
        "nothing was accepted"
    );
    orch.shutdown().await.unwrap();
}
