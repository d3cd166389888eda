//! Caller-supplied keys and labels: a task whose key names a live run (or
//! one finished within `Config::key_window`) gets that run back from
//! `launch`, `run` and `run_batch`; concurrent submits of one key start
//! one run (a `stream` of a live key follows the run instead); the key
//! index survives a restart with the store; runs are
//! found by key, label, name prefix, time and status, in memory and in
//! the store.

use std::path::Path;
use std::time::{Duration, SystemTime};

use taskorch::{Config, Execution, Orchestrator, Request, RunQuery, RunStatus, Task};

use crate::common::{fast_config, start_with, wait_for_status};

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

fn window(d: Duration) -> Config {
    Config {
        key_window: d,
        ..fast_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_key_returns_the_existing_run_from_launch_run_and_batch() {
    let orch = start_with(fast_config()).await;
    let first = orch
        .launch(Task::command("sleep").arg("0.5").key("session-1"))
        .await
        .unwrap();
    wait_for_status(&orch, first, RunStatus::Running).await;
    // Different content, same key: the existing run all the same.
    let again = orch
        .launch(Task::shell("echo other").key("session-1"))
        .await
        .unwrap();
    assert_eq!(again, first);
    let out = orch
        .run(Task::shell("exit 7").key("session-1"))
        .await
        .unwrap();
    assert_eq!(out.run_id, first, "run waits for the existing run");
    assert_eq!(out.exit_code, Some(0));
    let batch = orch
        .run_batch(
            vec![
                Task::shell("echo a").key("batch-key"),
                Task::shell("echo b").key("batch-key"),
            ],
            2,
        )
        .await;
    let ids: Vec<_> = batch.iter().map(|r| r.as_ref().unwrap().run_id).collect();
    assert_eq!(ids[0], ids[1], "two batch items with one key are one run");
    let keyed = orch.observe().find_runs(&RunQuery::new().key("session-1"));
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0].key.as_deref(), Some("session-1"));
    // Without a key nothing is shared.
    let a = orch.launch(Task::command("true")).await.unwrap();
    let b = orch.launch(Task::command("true")).await.unwrap();
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_keeps_its_key_for_the_window_only() {
    let orch = start_with(window(Duration::from_millis(400))).await;
    let first = orch
        .launch(Task::command("true").key("nightly"))
        .await
        .unwrap();
    orch.wait(first).await.unwrap();
    let within = orch
        .launch(Task::command("true").key("nightly"))
        .await
        .unwrap();
    assert_eq!(within, first, "finished within the window");
    assert_eq!(
        orch.observe().find_key("nightly").unwrap().map(|r| r.id),
        Some(first)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = orch
        .launch(Task::command("true").key("nightly"))
        .await
        .unwrap();
    assert_ne!(after, first, "after the window a new run starts");
    orch.wait(after).await.unwrap();
    assert_eq!(
        orch.observe()
            .find_runs(&RunQuery::new().key("nightly"))
            .len(),
        2
    );

    // A zero window: only live runs hold their key.
    let orch = start_with(window(Duration::ZERO)).await;
    let one = orch.launch(Task::command("true").key("k")).await.unwrap();
    orch.wait(one).await.unwrap();
    let two = orch.launch(Task::command("true").key("k")).await.unwrap();
    assert_ne!(one, two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_launches_of_one_key_start_exactly_one_run() {
    let orch = start_with(fast_config()).await;
    let launches = (0..64).map(|i| {
        let orch = orch.orch.clone();
        tokio::spawn(async move {
            orch.launch(Task::shell(format!("sleep 0.2; echo {i}")).key("race"))
                .await
                .unwrap()
        })
    });
    let ids: Vec<_> = futures::future::join_all(launches)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        orch.observe().find_runs(&RunQuery::new().key("race")).len(),
        1
    );
    assert_eq!(orch.runs().len(), 1, "no other run was admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_index_survives_a_restart_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let first = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        let id = orch
            .launch(Task::command("true").key("training_session_123"))
            .await
            .unwrap();
        orch.wait(id).await.unwrap();
        orch.shutdown().await.unwrap();
        id
    };
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let again = orch
        .launch(Task::command("true").key("training_session_123"))
        .await
        .unwrap();
    assert_eq!(again, first, "a launch after reopening returns the old id");
    let found = orch.observe().find_key("training_session_123").unwrap();
    assert_eq!(found.map(|r| r.id), Some(first));
    let history = orch
        .observe()
        .history(&RunQuery::new().key("training_session_123"))
        .unwrap();
    assert_eq!(history.len(), 1);
    orch.shutdown().await.unwrap();

    // Reopened with a zero window, the finished run no longer holds it.
    let orch = Orchestrator::start(Config {
        key_window: Duration::ZERO,
        ..stored(&db)
    })
    .await
    .unwrap();
    let fresh = orch
        .launch(Task::command("true").key("training_session_123"))
        .await
        .unwrap();
    assert_ne!(fresh, first);
    orch.wait(fresh).await.unwrap();
    orch.shutdown().await.unwrap();
}

/// Six runs: bots b-1/b-2, strategies, names with two prefixes.
async fn labelled(orch: &Orchestrator) -> Vec<taskorch::RunId> {
    let mut ids = Vec::new();
    for (i, (bot, strategy)) in [
        ("b-1", "mean"),
        ("b-1", "trend"),
        ("b-2", "mean"),
        ("b-2", "trend"),
        ("b-1", "mean"),
        ("b-3", "mean"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = if i % 2 == 0 {
            format!("nightly-{i}")
        } else {
            format!("hourly-{i}")
        };
        let task = Task::shell(if i == 4 { "exit 1" } else { "true" })
            .name(name)
            .label("bot", bot)
            .label("strategy", strategy)
            .label("n", i.to_string());
        let id = orch.launch(task).await.unwrap();
        let _ = orch.wait(id).await;
        ids.push(id);
    }
    ids
}

fn ids(runs: &[taskorch::RunInfo]) -> Vec<taskorch::RunId> {
    let mut ids: Vec<_> = runs.iter().map(|r| r.id).collect();
    ids.sort();
    ids
}

/// The same questions asked of memory (`find_runs`) and of the store
/// (`observe().history`).
async fn check_queries(orch: &Orchestrator, runs: &[taskorch::RunId], memory: bool) {
    let ask = |query: RunQuery| {
        if memory {
            orch.observe().find_runs(&query)
        } else {
            orch.observe().history(&query).unwrap()
        }
    };
    let by_bot = ask(RunQuery::new().label("bot", "b-1"));
    assert_eq!(ids(&by_bot), vec![runs[0], runs[1], runs[4]]);
    assert_eq!(by_bot[0].labels.get("bot").map(String::as_str), Some("b-1"));
    // Several labels: all of them.
    let both = ask(RunQuery::new()
        .label("bot", "b-1")
        .label("strategy", "mean"));
    assert_eq!(ids(&both), vec![runs[0], runs[4]]);
    let failed = ask(RunQuery::new()
        .label("strategy", "mean")
        .status(RunStatus::Failed));
    assert_eq!(ids(&failed), vec![runs[4]]);
    let nightly = ask(RunQuery::new().name_prefix("nightly-"));
    assert_eq!(ids(&nightly), vec![runs[0], runs[2], runs[4]]);
    let prefixed = ask(RunQuery::new().name_prefix("hourly-").label("bot", "b-2"));
    assert_eq!(ids(&prefixed), vec![runs[3]]);
    assert!(ask(RunQuery::new().label("bot", "b-9")).is_empty());
    assert!(ask(RunQuery::new().label("nope", "b-1")).is_empty());
    let last = ask(RunQuery::new().label("strategy", "mean").most_recent(2));
    assert_eq!(ids(&last), vec![runs[4], runs[5]]);
    let future = SystemTime::now() + Duration::from_secs(3600);
    assert!(
        ask(RunQuery::new().label("bot", "b-1").since(future)).is_empty(),
        "time range applies"
    );
    let before = ask(RunQuery::new()
        .label("bot", "b-1")
        .until(future)
        .since(SystemTime::UNIX_EPOCH));
    assert_eq!(before.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_prefixes_times_and_statuses_are_queried_in_memory() {
    let orch = start_with(fast_config()).await;
    let runs = labelled(&orch).await;
    check_queries(&orch, &runs, true).await;
    // Without a store `history` reads memory too.
    check_queries(&orch, &runs, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_queried_in_the_store_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let runs = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        let runs = labelled(&orch).await;
        check_queries(&orch, &runs, false).await;
        orch.shutdown().await.unwrap();
        runs
    };
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    check_queries(&orch, &runs, false).await;
    orch.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_retention_removes_label_entries_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let config = || Config {
        history_limit: 2,
        ..stored(&db)
    };
    let orch = Orchestrator::start(config()).await.unwrap();
    for _ in 0..5 {
        let id = orch
            .launch(Task::command("true").label("bot", "b-1"))
            .await
            .unwrap();
        orch.wait(id).await.unwrap();
    }
    let history = orch
        .observe()
        .history(&RunQuery::new().label("bot", "b-1"))
        .unwrap();
    assert_eq!(history.len(), 2, "only retained runs are found by label");
    // Waiters wake before the finished run's retention step: wait for it.
    crate::common::wait_for("evicted runs to leave the memory index", || {
        orch.observe()
            .find_runs(&RunQuery::new().label("bot", "b-1"))
            .len()
            == 2
    })
    .await;
    orch.shutdown().await.unwrap();
}

/// A script that prints `one`, waits until `gate` exists, prints `two`.
fn gated(gate: &Path) -> String {
    format!(
        "echo one; while [ ! -e '{}' ]; do sleep 0.02; done; echo two",
        gate.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_of_a_live_key_follows_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let orch = start_with(fast_config()).await;
    let mut owner = orch
        .stream(Task::shell(gated(&gate)).key("watch"))
        .await
        .unwrap();
    assert!(owner.is_owner());
    assert_eq!(owner.next_line().await.unwrap().text, "one");

    // Different content, same key: nothing new starts; the backlog, then
    // the live lines of the first run.
    let mut follower = orch
        .stream(Task::shell("echo other").key("watch"))
        .await
        .unwrap();
    assert_eq!(follower.run_id(), owner.run_id());
    assert!(!follower.is_owner());
    let by_execute = orch
        .execute(Request::new(Task::command("true").key("watch")).streaming(true))
        .await
        .unwrap();
    let Execution::Streaming(mut chunks) = by_execute else {
        panic!("streaming(true) answers with a stream");
    };
    assert_eq!(chunks.run_id(), owner.run_id());
    assert_eq!(
        orch.launch(Task::command("true").key("watch"))
            .await
            .unwrap(),
        owner.run_id()
    );
    assert_eq!(follower.next_line().await.unwrap().text, "one");
    std::fs::write(&gate, b"").unwrap();
    assert_eq!(owner.next_line().await.unwrap().text, "two");
    assert_eq!(follower.next_line().await.unwrap().text, "two");
    assert!(follower.next_line().await.is_none());
    // A follower's chunks are its lines with their newline.
    let first = chunks.next_chunk().await.unwrap();
    assert_eq!(first.bytes, b"one\n");
    assert_eq!(chunks.next_chunk().await.unwrap().bytes, b"two\n");
    assert!(chunks.next_chunk().await.is_none());
    assert_eq!(follower.missed(), 0);

    let (a, b) = (owner.wait().await.unwrap(), follower.wait().await.unwrap());
    assert_eq!(a.run_id, b.run_id);
    assert_eq!(b.stdout_str(), "one\ntwo\n");
    assert_eq!(orch.runs().len(), 1, "one run for four submits of the key");

    // Finished within the window: a stream replays what the ring kept and
    // ends at once.
    let mut late = orch
        .stream(Task::shell("echo late").key("watch"))
        .await
        .unwrap();
    assert_eq!(late.run_id(), a.run_id);
    assert_eq!(late.next_line().await.unwrap().text, "one");
    assert_eq!(late.next_line().await.unwrap().text, "two");
    assert!(late.next_line().await.is_none());
    assert_eq!(late.wait().await.unwrap().exit_code, Some(0));
    assert_eq!(orch.runs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_of_one_key_start_exactly_one_run() {
    let orch = start_with(fast_config()).await;
    let streams = (0..16).map(|i| {
        let orch = orch.orch.clone();
        tokio::spawn(async move {
            let stream = orch
                .stream(Task::shell(format!("sleep 0.2; echo {i}")).key("race"))
                .await
                .unwrap();
            (stream.run_id(), stream.is_owner())
        })
    });
    let got: Vec<_> = futures::future::join_all(streams)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(got.iter().all(|(id, _)| *id == got[0].0), "{got:?}");
    assert_eq!(got.iter().filter(|(_, owner)| *owner).count(), 1);
    assert_eq!(orch.runs().len(), 1, "no other run was admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_a_key_after_a_restart_follows_the_stored_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let first = {
        let orch = Orchestrator::start(stored(&db)).await.unwrap();
        let stream = orch
            .stream(Task::shell("echo hello; echo world >&2").key("report"))
            .await
            .unwrap();
        let out = stream.wait().await.unwrap();
        orch.shutdown().await.unwrap();
        out.run_id
    };
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let mut again = orch
        .stream(Task::shell("echo other").key("report"))
        .await
        .unwrap();
    assert_eq!(again.run_id(), first, "the key names the stored run");
    assert!(!again.is_owner());
    let mut lines = Vec::new();
    while let Some(line) = again.next_line().await {
        lines.push(line.text);
    }
    lines.sort();
    assert_eq!(lines, ["hello", "world"]);
    let out = again.wait().await.unwrap();
    assert_eq!((out.run_id, out.exit_code), (first, Some(0)));
    assert_eq!(orch.runs().len(), 0, "nothing new was admitted");
    orch.shutdown().await.unwrap();
}
