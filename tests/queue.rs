//! Priorities and named queues for every run: who gets the next permit
//! (priority, with aging: unit tests in `actors/src/queues/tests.rs`),
//! a queue's concurrency limit, pause and resume without cancelling,
//! refusals at submit (`UnknownQueue`, `InvalidRate`, `InvalidQueue`), and
//! a restart that keeps the queue, its pause and its runs' priorities.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use std::sync::Mutex;
use taskorch::{
    Config, Error, Orchestrator, Priority, QueueSpec, RunId, RunStatus, ScheduleSpec, Task, Trigger,
};

use tokio::sync::Semaphore;

use crate::common::{Runtime, fast_config, register_gate, start_with, wait_for, wait_for_status};

/// Registers the action `name`, which appends its input to the returned log.
fn register_log(orch: &Orchestrator, name: &str) -> Arc<Mutex<Vec<Value>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    orch.register_action(name, move |input| {
        let sink = Arc::clone(&sink);
        async move {
            sink.lock().unwrap().push(input.clone());
            Ok(input)
        }
    });
    log
}

fn capped(n: usize) -> Config {
    Config {
        max_concurrency: n,
        ..fast_config()
    }
}

/// Runs waiting for a permit in the default queue (`None`) or queue `name`.
fn depth(orch: &Orchestrator, name: Option<&str>) -> usize {
    orch.observe()
        .queues()
        .list()
        .into_iter()
        .find(|q| q.name.as_deref() == name)
        .map_or(0, |q| q.depth)
}

/// A runtime on `config` with a queue "narrow" of `concurrency` slots and
/// `n` runs launched into it, each held by the returned gate until a test
/// adds its permits.
async fn gated_in_narrow(
    config: Config,
    concurrency: usize,
    n: usize,
) -> (Runtime, Arc<Semaphore>, Vec<RunId>) {
    let orch = start_with(config).await;
    orch.queue(QueueSpec::new("narrow").concurrency(concurrency))
        .await
        .unwrap();
    let gate = register_gate(&orch, "block");
    let mut ids = Vec::new();
    for _ in 0..n {
        let task = Task::action("block", json!(null)).queue("narrow");
        ids.push(orch.launch(task).await.unwrap());
    }
    (orch, gate, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_cap_of_one_the_most_urgent_waiting_run_starts_first() {
    let orch = start_with(capped(1)).await;
    let gate = register_gate(&orch, "block");
    let log = register_log(&orch, "note");
    let blocker = orch
        .launch(Task::action("block", json!(null)))
        .await
        .unwrap();
    wait_for_status(&orch, blocker, RunStatus::Running).await;
    let note = |p: Priority| Task::action("note", json!(p.as_str())).priority(p);
    let mut ids = Vec::new();
    for p in [Priority::Low, Priority::Normal] {
        ids.push(orch.launch(note(p)).await.unwrap());
    }
    // `run` and `run_batch` wait in the same order as launches.
    let simple = {
        let orch = orch.orch.clone();
        tokio::spawn(async move { orch.run(note(Priority::Critical)).await })
    };
    let batch = {
        let orch = orch.orch.clone();
        tokio::spawn(async move { orch.run_batch(vec![note(Priority::High)], 1).await })
    };
    wait_for("four runs waiting", || depth(&orch, None) == 4).await;
    gate.add_permits(1);
    assert!(simple.await.unwrap().unwrap().success());
    assert!(batch.await.unwrap()[0].as_ref().unwrap().success());
    for id in ids {
        orch.wait(id).await.unwrap();
    }
    let order: Vec<Value> = log.lock().unwrap().clone();
    assert_eq!(
        order,
        ["critical", "high", "normal", "low"].map(|s| json!(s))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_runs_at_most_its_concurrency_within_the_global_cap() {
    let (orch, gate, ids) = gated_in_narrow(capped(8), 2, 5).await;
    wait_for("2 running and 3 waiting in the queue", || {
        let q = orch.observe().queues().find("narrow").unwrap();
        (q.running, q.depth) == (2, 3)
    })
    .await;
    let running = |orch: &Orchestrator| {
        ids.iter()
            .filter(|&&id| orch.status(id) == Some(RunStatus::Running))
            .count()
    };
    assert_eq!(running(&orch), 2);
    // Work in the default queue is not held up by the narrow one.
    register_log(&orch, "note");
    let other = orch.run(Task::action("note", json!(1))).await.unwrap();
    assert!(other.success());
    assert_eq!(depth(&orch, Some("narrow")), 3);
    gate.add_permits(5);
    for &id in &ids {
        assert!(orch.wait(id).await.unwrap().success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_keeps_its_waiting_runs_and_cancels_nothing() {
    let orch = start_with(capped(4)).await;
    orch.queue(QueueSpec::new("p")).await.unwrap();
    let gate = register_gate(&orch, "block");
    let running = orch
        .launch(Task::action("block", json!(null)).queue("p"))
        .await
        .unwrap();
    wait_for_status(&orch, running, RunStatus::Running).await;
    orch.pause_queue("p").await.unwrap();
    let waiting = orch
        .launch(Task::action("block", json!(null)).queue("p"))
        .await
        .unwrap();
    wait_for("the run waits in the paused queue", || {
        depth(&orch, Some("p")) == 1
    })
    .await;
    assert!(orch.observe().queues().find("p").unwrap().paused);
    gate.add_permits(1);
    assert!(
        orch.wait(running).await.unwrap().success(),
        "the running run was not cancelled"
    );
    // A free slot, and still it does not start.
    assert_eq!(orch.status(waiting), Some(RunStatus::Queued));
    assert_eq!(depth(&orch, Some("p")), 1);
    orch.resume_queue("p").await.unwrap();
    gate.add_permits(1);
    assert!(orch.wait(waiting).await.unwrap().success());
    assert!(!orch.observe().queues().find("p").unwrap().paused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_for_an_undeclared_queue_is_refused_before_anything_is_accepted() {
    let orch = start_with(fast_config()).await;
    let unknown = |e: &Error| matches!(e, Error::UnknownQueue(name) if name == "nope");
    let task = || Task::command("true").queue("nope");
    assert!(unknown(&orch.launch(task()).await.unwrap_err()));
    assert!(unknown(&orch.run(task()).await.unwrap_err()));
    let batch = orch.run_batch(vec![task()], 1).await;
    assert!(unknown(batch[0].as_ref().unwrap_err()));
    let spec = ScheduleSpec::new("s", Trigger::every(Duration::from_secs(60)), task());
    assert!(unknown(&orch.schedule(spec).await.unwrap_err()));
    assert!(unknown(&orch.pause_queue("nope").await.unwrap_err()));
    assert!(unknown(&orch.resume_queue("nope").await.unwrap_err()));
    assert!(orch.runs().is_empty(), "nothing was accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_rate_or_concurrency_is_refused_naming_the_queue() {
    let orch = start_with(fast_config()).await;
    for (starts, per) in [(0, Duration::from_secs(1)), (5, Duration::ZERO)] {
        let err = orch
            .queue(QueueSpec::new("fast").rate(starts, per))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRate { queue, .. } if queue == "fast"),
            "{starts}/{per:?}: {err}"
        );
    }
    let err = orch
        .queue(QueueSpec::new("none").concurrency(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidQueue { queue, .. } if queue == "none"),
        "{err}"
    );
    assert!(
        orch.observe().queues().find("fast").is_none(),
        "nothing was declared"
    );
    // Re-declaring updates the limits.
    orch.queue(QueueSpec::new("fast").concurrency(1))
        .await
        .unwrap();
    orch.queue(
        QueueSpec::new("fast")
            .concurrency(3)
            .rate(10, Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let q = orch.observe().queues().find("fast").unwrap();
    assert_eq!(q.concurrency, Some(3));
    assert_eq!(q.rate.map(|r| r.starts), Some(10));
}

/// A child process (the `durable` example, "queues" mode) declares a queue,
/// pauses it, launches a Low, a High and a Normal run into it and is killed.
/// The restart finds the queue, still paused, and its runs, which start by
/// priority once it is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_queues_their_pause_and_their_runs_priorities() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    let (mut child, mut lines) = crate::durable::start_durable(&db, &marker, "queues");
    let mut queued = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == "ready" {
            break;
        }
        if let Some(rest) = line.strip_prefix("queued ") {
            let (_, id) = rest.split_once(' ').unwrap();
            queued.push(id.parse().unwrap());
        }
    }
    assert_eq!(queued.len(), 3);
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let orch = start_with(fast_config().store(&db)).await;
    let q = orch
        .observe()
        .queues()
        .find("reports")
        .expect("the queue is back");
    assert!(q.paused, "and still paused");
    assert_eq!(q.concurrency, Some(1));
    assert_eq!(
        q.rate.map(|r| (r.starts, r.per)),
        Some((50, Duration::from_secs(1)))
    );
    let log = register_log(&orch, "note");
    wait_for("the three runs waiting in the queue", || {
        depth(&orch, Some("reports")) == 3
    })
    .await;
    for &id in &queued {
        assert_eq!(orch.status(id), Some(RunStatus::Queued));
    }
    orch.resume_queue("reports").await.unwrap();
    for &id in &queued {
        assert!(orch.wait(id).await.unwrap().success());
    }
    let order: Vec<Value> = log.lock().unwrap().clone();
    assert_eq!(order, ["high", "normal", "low"].map(|s| json!(s)));
    orch.orch.shutdown().await.unwrap();
    drop(orch);

    // The resume is durable too.
    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    assert!(!orch.observe().queues().find("reports").unwrap().paused);
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_list_each_named_queue_beside_the_global_cap() {
    let (orch, gate, ids) = gated_in_narrow(capped(4), 1, 3).await;
    wait_for("1 running and 2 waiting", || {
        depth(&orch, Some("narrow")) == 2
    })
    .await;
    orch.pause_queue("narrow").await.unwrap();
    let m = orch.metrics();
    let narrow = &m.queues["narrow"];
    assert_eq!((narrow.queued, narrow.running), (2, 1));
    assert_eq!((narrow.concurrency, narrow.free), (1, 0));
    assert!(narrow.paused);
    let global = &m.queues[taskorch::metrics::DEFAULT_QUEUE];
    assert_eq!((global.queued, global.running, global.free), (2, 1, 3));
    orch.resume_queue("narrow").await.unwrap();
    gate.add_permits(3);
    for id in ids {
        orch.wait(id).await.unwrap();
    }
}
