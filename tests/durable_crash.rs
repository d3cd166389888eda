//! The kill -9 crash test: a child process (the `durable` example) keeps
//! launching runs and running a schedule, each run appending its run id to
//! a marker file; it is SIGKILLed at seeded random points and started
//! again, 20 times, then drained. Each start also submits a small task
//! graph whose tasks mark themselves. Afterwards: the database opened
//! every time, no accepted run is lost, none ran twice (count per run id
//! <= 1, == 1 for the finished ones), no graph task ran twice (adopted
//! graphs carry on across restarts), every run is terminal, and no
//! process of any run is left.
//!
//! The seed is printed; `TASKORCH_CRASH_SEED=<n>` replays a failure.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use taskorch::RunQuery;
use taskorch::{Orchestrator, RunId, RunStatus};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{Rng, env_or, fast_config, wait_until};
use crate::durable::example;

const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_seeded_points_loses_nothing_and_runs_nothing_twice() {
    let seed: u64 = env_or("TASKORCH_CRASH_SEED", 0x5eed_1234_abcd);
    eprintln!("crash test seed {seed} (TASKORCH_CRASH_SEED replays it)");
    let mut rng = Rng::new(seed);
    let exe = example("durable");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    let mut accepted: HashSet<RunId> = HashSet::new();

    for round in 0..=ROUNDS {
        let last = round == ROUNDS;
        let mut child = tokio::process::Command::new(&exe)
            .arg(&db)
            .arg(&marker)
            .arg(if last { "drain" } else { "work" })
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        if last {
            let mut drained = false;
            while let Some(line) = lines.next_line().await.unwrap() {
                drained |= line == "drained";
            }
            let status = child.wait().await.unwrap();
            assert!(
                status.success() && drained,
                "the drain round failed: {status}"
            );
            break;
        }
        // The database opened (`Orchestrator::start` returned) before
        // "ready" is printed.
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the child starts")
            .unwrap();
        assert_eq!(
            ready.as_deref(),
            Some("ready"),
            "round {round}: start failed"
        );
        let reader = tokio::spawn(async move {
            let mut ids = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(id) = line.strip_prefix("launched ") {
                    ids.push(id.parse::<RunId>().unwrap());
                }
            }
            ids
        });
        tokio::time::sleep(Duration::from_millis(20 + rng.below(230))).await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        accepted.extend(reader.await.unwrap());
    }

    let orch = Orchestrator::start(fast_config().store(&db)).await.unwrap();
    let history = orch.observe().history(&RunQuery::new()).unwrap();
    let status: HashMap<RunId, RunStatus> = history.iter().map(|r| (r.id, r.status)).collect();
    let mut marks: HashMap<RunId, usize> = HashMap::new();
    // "G <start>/<task>": a task of the graph submitted by one start.
    let mut graph_marks: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&marker).unwrap_or_default().lines() {
        match line.strip_prefix("G ") {
            Some(task) => *graph_marks.entry(task.to_string()).or_default() += 1,
            None => *marks.entry(line.trim().parse().unwrap()).or_default() += 1,
        }
    }
    assert!(!graph_marks.is_empty(), "no graph task ran");
    for (task, count) in &graph_marks {
        assert_eq!(*count, 1, "graph task {task} ran {count} times");
    }
    eprintln!(
        "{} launched runs accepted, {} runs in all, {} interrupted, {} ran",
        accepted.len(),
        history.len(),
        history
            .iter()
            .filter(|r| r.status == RunStatus::Interrupted)
            .count(),
        marks.len()
    );
    assert!(!accepted.is_empty());
    for id in &accepted {
        assert!(status.contains_key(id), "accepted run {id} was lost");
    }
    for (id, st) in &status {
        assert!(st.is_terminal(), "run {id} is still {st}");
        let count = marks.get(id).copied().unwrap_or(0);
        assert!(count <= 1, "run {id} ran {count} times");
        if *st == RunStatus::Succeeded {
            assert_eq!(count, 1, "finished run {id} left no mark");
        }
    }
    for id in marks.keys() {
        assert!(
            status.contains_key(id),
            "a run unknown to the store ran: {id}"
        );
    }
    orch.shutdown().await.unwrap();
    // No process of any run is left (crashed rounds' groups are stopped by
    // the next start).
    let ids: HashSet<String> = status.keys().map(|id| id.to_string()).collect();
    assert!(
        wait_until(Duration::from_secs(10), || run_processes(&ids).is_empty()).await,
        "orphaned processes: {:?}",
        run_processes(&ids)
    );
}

/// Live processes whose `TASKORCH_RUN_ID` is one of `ids`.
fn run_processes(ids: &HashSet<String>) -> Vec<u32> {
    use taskorch::process::{RUN_ID_ENV, procfs};
    procfs::pids()
        .filter(|&pid| crate::common::alive(pid))
        .filter(|&pid| {
            procfs::environ_var(pid, RUN_ID_ENV)
                .is_some_and(|v| std::str::from_utf8(&v).is_ok_and(|v| ids.contains(v)))
        })
        .collect()
}
